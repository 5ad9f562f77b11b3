"""Complete networks of monai-dianet."""
from .dianet import DIANET_TASKS, DIANet, DIANetFeatures, DIANetOutput
from .onconet import MODALITIES, ONCONET_VARIANTS, OncoNet, OncoNetOutput
