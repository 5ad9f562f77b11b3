# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI Label app folder of monai-dianet: ``monailabel start_server --app apps/monailabel_dianet --studies DATA``.

MONAI Label loads the ``MONAILabelApp`` subclass found in this file; the served bundles are listed in
``models.json`` beside it (adding a bundle is an entry there). See README "MONAI Label app".
"""

from monai_dianet.apps.monailabel.app import DIANetApp  # noqa: F401  (the app class MONAI Label picks up)
