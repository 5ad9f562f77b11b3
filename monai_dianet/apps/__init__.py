# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Domain applications of monai-dianet, one sub-package per domain (as :mod:`monai.apps.pathology` in MONAI):
datalists, file formats, label conventions, writers and reports. The generic packages (``networks``, ``losses``,
``transforms``, ``inferers``, ``metrics``, ``engines``, ``handlers``, ``visualize``, ``data``, ``utils``,
``bundle``, ``rl``) never import from here.

- :mod:`~monai_dianet.apps.brats`: BraTS 2021/2023 brain-tumour MRI.
- :mod:`~monai_dianet.apps.tcga`: TCGA multimodal cohorts in the GDC formats.
- :mod:`~monai_dianet.apps.pathology`: CAMELYON whole-slide images.
- :mod:`~monai_dianet.apps.oncostrat`: OncoStrat treatment policy.
- :mod:`~monai_dianet.apps.monailabel`: the MONAI Label app and DICOM/DICOMweb I/O.
"""
