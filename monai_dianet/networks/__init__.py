# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Networks (blocks and nets) of monai-dianet."""
