# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Domain applications of monai-dianet (one sub-package per domain)."""
