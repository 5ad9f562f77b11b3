# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""monai-dianet: DIANet, ACWI and OncoNet as MONAI components."""

__version__ = "0.1.0"
