# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI Label app code for DIANet bundles, and DICOM/DICOMweb I/O for multi-sequence MR studies.

``dicom`` and ``pacs`` need only pydicom, highdicom and dicomweb-client (the ``dicom`` extra). ``datastore``,
``infer``, ``train``, ``scoring``, ``errors`` and ``app`` import ``monailabel``, which lives in its own environment
(``scripts/setup_monailabel.sh``); nothing here imports them eagerly.
"""
