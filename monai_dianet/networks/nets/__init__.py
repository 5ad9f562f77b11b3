# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Complete networks of monai-dianet."""
from .dianet import DIANet, DIANetFeatures, DIANetOutput
from .onconet import ONCONET_VARIANTS, OncoNet, OncoNetOutput
