"""Helpers of the OncoNet TCGA bundle: data preparation, batch preparation, metrics and the per-patient report."""
