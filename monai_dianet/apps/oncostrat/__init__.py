# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoStrat treatment policy: patient cohorts, regimens and the clinician-facing reports built on the generic
environment and agent code of :mod:`monai_dianet.rl`."""
