# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
