"""Data utilities: datalist builders, datasets and synthetic data in the real on-disk formats."""
