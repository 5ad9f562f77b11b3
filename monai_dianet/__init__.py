"""monai-dianet: DIANet, ACWI and OncoNet as MONAI components."""

__version__ = "0.1.0"
