# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""TCGA multimodal cohort (histology patch + gene expression + clinical) as a MONAI dataset.

Typical use (a GDC download or :func:`monai_dianet.data.synthetic.generate_tcga` output)::

    data = build_tcga_data("tcga_root", num_genes=128, val_fraction=0.2, seed=0)
    loader = DataLoader(data.datasets["training"], batch_size=8, shuffle=True, collate_fn=tcga_collate)
    batch = next(iter(loader))
    batch["image"].shape, batch["genes"].shape, batch["graph"]   # (8, 3, 64, 64), (8, 128), PyG Batch

Step by step: :func:`load_tcga_cohort` reads and aligns the tables, :func:`build_tcga_datalist` /
:meth:`TCGACohort.datalist` gives one raw dict per case, :func:`monai_dianet.data.split_datalist` splits by case
(stratified by label),
:class:`~monai_dianet.apps.tcga.transforms.ScaleGeneExpression` /
:class:`~monai_dianet.apps.tcga.transforms.EncodeClinical` are fitted on the training cases, and
:class:`TCGAMultimodalDataset` yields model-ready items.

Items of :class:`TCGAMultimodalDataset`:

=================  ====================  ===================================================================
key                shape / type          content
=================  ====================  ===================================================================
``image``          (3, H, W) float32     histology patch in [0, 1]; zeros when the case has none
``genes``          (G,) float32          selected genes, log1p + standardised with train stats; zeros if none
``clinical``       (F,) float32          encoded clinical features; zeros if the case has no clinical data
``clinical_cat``   (C,) int64            categorical indices (``categorical_mode="index"``), else empty (0,)
``graph``          (2, E) int64          gene-gene ``edge_index`` over the G genes, the same for every case
``graph_weight``   (E,) float32          STRING combined score in [0, 1] of each edge
``modality_mask``  (3,) bool             presence of [image, genes, clinical]
``label``          () int64              class index
``case_id``        str                   ``case_submitter_id``
=================  ====================  ===================================================================

The default collate stacks ``graph`` to (B, 2, E); :func:`tcga_collate` instead turns the genes into one
PyTorch Geometric graph per patient (node features ``genes[:, None]``, shared edges) batched as a
``torch_geometric.data.Batch`` under ``"graph"``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from monai.data import Dataset, list_data_collate
from monai.transforms import Compose, MapTransform

from monai_dianet.apps.tcga.gdc import (
    align_case_ids,
    list_histology_patches,
    read_gdc_clinical,
    read_gdc_gene_info,
    read_gdc_star_counts,
    read_label_table,
    read_string_edge_table,
    string_edges_to_index,
)
from monai_dianet.apps.tcga.transforms import (
    DEFAULT_STAGE_COLUMNS,
    EncodeClinical,
    EncodeClinicald,
    ScaleGeneExpression,
    LoadHistologyPatchd,
    ScaleGeneExpressiond,
)
from monai_dianet.data import split_datalist

__all__ = [
    "DEFAULT_CLINICAL_COLUMNS",
    "TCGACohort",
    "load_tcga_cohort",
    "build_tcga_datalist",
    "TCGAMultimodalDataset",
    "tcga_collate",
    "TCGAData",
    "build_tcga_data",
    "load_tcga_preprocessing",
]

DEFAULT_CLINICAL_COLUMNS: tuple[str, ...] = (
    "age_at_index",
    "gender",
    "race",
    "ethnicity",
    "ajcc_pathologic_stage",
    "primary_diagnosis",
    "prior_malignancy",
)
"""Baseline clinical columns used by default (those present in the table). Outcome and follow-up columns
(``vital_status``, ``days_to_death``, ``days_to_last_follow_up``...) are left out: they are not known at
diagnosis and would leak survival information."""


AUTO = "auto"
_AUTO_PATTERNS = {  # table -> (standard name, glob patterns tried when it is absent)
    "sample_sheet": ("gdc_sample_sheet.tsv", ("gdc_sample_sheet*.tsv", "*/gdc_sample_sheet*.tsv")),
    "clinical": ("clinical.tsv", ("clinical*/clinical.tsv", "*/clinical.tsv")),
    "edges": ("string_edges.tsv", ("*string*edges*.tsv",)),
    "patches": ("patches", ()),
}


def _resolve(root: Path, name: str | Path | None) -> Path | None:
    if name is None:
        return None
    path = Path(name)
    return path if path.is_absolute() else root / path


def _find(root: Path, name: str | Path | None, table: str) -> Path | None:
    """Path of an optional cohort table: None stays None; ``"auto"`` looks for the standard name, then for a
    unique match of GDC-style names (``gdc_sample_sheet.2024-05-17.tsv``, ``clinical.cart.*/clinical.tsv``),
    and gives None (with a warning) when nothing is found; an explicit name must exist."""
    if name is None:
        return None
    if str(name) != AUTO:
        path = _resolve(root, name)
        if not path.exists():
            raise FileNotFoundError(f"{table} not found: {path}")
        return path
    standard, patterns = _AUTO_PATTERNS[table]
    if (root / standard).exists():
        return root / standard
    for pattern in patterns:
        matches = sorted(root.glob(pattern))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValueError(f"several candidate {table} files in {root}: {[str(m) for m in matches]}; pass one.")
    warnings.warn(f"no {table} ({standard}) in {root}: that part of the cohort is absent.", stacklevel=3)
    return None


@dataclass
class TCGACohort:
    """A TCGA cohort read from GDC files, aligned on ``case_submitter_id``.

    Attributes:
        labels: class index per case, in cohort order (the label table's order).
        classes: the original label values; ``classes[i]`` is class index ``i``.
        expression: raw expression (cases with RNA-seq x gene ids), from :func:`read_gdc_star_counts`.
        clinical: clinical columns per cohort case (NaN where missing), from :func:`read_gdc_clinical`.
        patches: case -> histology patch paths (cases without patches absent).
        gene_info: gene id -> ``gene_name``, ``gene_type``.
        edges: STRING-like edge table (``gene_a``, ``gene_b``, ``combined_score``) or None.
        outcome: survival outcome per case (``time`` in days, ``event``), from
            :func:`~monai_dianet.apps.tcga.read_gdc_survival`, or None.
    """

    labels: pd.Series
    classes: list
    expression: pd.DataFrame
    clinical: pd.DataFrame
    patches: dict[str, list[str]]
    gene_info: pd.DataFrame
    edges: pd.DataFrame | None = None
    outcome: pd.DataFrame | None = None

    @property
    def case_ids(self) -> list[str]:
        """Cohort case ids in order."""
        return list(self.labels.index)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, case_ids: Sequence[str], labels: pd.Series | None = None) -> TCGACohort:
        """The cohort restricted to ``case_ids`` (in that order), optionally with new labels (indexed by case id,
        re-encoded as class indices) for them.

        Raises:
            KeyError: for case ids not in the cohort.
        """
        ids = [str(c) for c in case_ids]
        unknown = [c for c in ids if c not in self.labels.index]
        if unknown:
            raise KeyError(f"case id(s) not in the cohort: {unknown[:10]}")
        keep = set(ids)
        if labels is None:
            label_index, classes = self.labels.loc[ids], self.classes
        else:
            values = pd.Series(labels).reindex(ids)
            classes = sorted(values.unique().tolist())
            label_index = values.map({v: i for i, v in enumerate(classes)}).astype(int)
        return TCGACohort(
            labels=label_index,
            classes=classes,
            expression=self.expression.loc[[c for c in self.expression.index if c in keep]],
            clinical=self.clinical.reindex(ids),
            patches={c: p for c, p in self.patches.items() if c in keep},
            gene_info=self.gene_info,
            edges=self.edges,
            outcome=None if self.outcome is None else self.outcome.reindex(ids),
        )

    def modality_mask(self) -> pd.DataFrame:
        """Boolean presence per case (rows) of each modality (columns ``image``, ``genes``, ``clinical``)."""
        ids = self.case_ids
        return pd.DataFrame(
            {
                "image": [bool(self.patches.get(c)) for c in ids],
                "genes": [c in self.expression.index for c in ids],
                "clinical": self.clinical.reindex(ids).notna().any(axis=1).to_numpy(),
            },
            index=pd.Index(ids, name="case_submitter_id"),
        )

    def datalist(self, case_ids: Sequence[str] | None = None, genes: Sequence[str] | None = None) -> list[dict]:
        """One raw dict per case: ``case_id``, ``label`` (int), ``image`` (list of patch paths, maybe empty),
        ``genes`` (pandas Series of raw expression by gene id, or None), ``clinical`` (Series of the clinical
        columns, or None) and ``modality_mask`` (bool array (3,)); when the cohort has an ``outcome``, also
        ``time`` (float days, NaN when unknown) and ``event`` (bool).

        Args:
            case_ids: cases to include (default all, in cohort order).
            genes: restrict the expression Series to these gene ids (saves memory on 60k-gene files); genes
                absent from the cohort become NaN, with a warning.

        Raises:
            KeyError: for case ids not in the cohort.
        """
        ids = self.case_ids if case_ids is None else [str(c) for c in case_ids]
        unknown = [c for c in ids if c not in self.labels.index]
        if unknown:
            raise KeyError(f"case id(s) not in the cohort: {unknown[:10]}")
        mask = self.modality_mask().loc[ids]
        expression = self.expression
        if genes is not None:
            absent = [g for g in genes if g not in expression.columns]
            if absent and len(expression):
                warnings.warn(
                    f"{len(absent)} gene(s) not in this cohort's expression files, e.g. {absent[:5]}: their values "
                    "are missing (the fitted scaler maps them to 0, the training mean).",
                    stacklevel=2,
                )
            expression = expression.reindex(columns=list(genes))
        items = []
        for c in ids:
            present = mask.loc[c].to_numpy(dtype=bool)
            items.append(
                {
                    "case_id": c,
                    "label": int(self.labels[c]),
                    "image": list(self.patches.get(c, [])),
                    "genes": expression.loc[c].copy() if present[1] else None,
                    "clinical": self.clinical.loc[c].copy() if present[2] else None,
                    "modality_mask": present,
                }
            )
            if self.outcome is not None:
                known = c in self.outcome.index and not pd.isna(self.outcome.at[c, "time"])
                items[-1]["time"] = float(self.outcome.at[c, "time"]) if known else float("nan")
                items[-1]["event"] = bool(self.outcome.at[c, "event"]) if known else False
        return items

    def edge_index(
        self, genes: Sequence[str], min_score: float = 0.0, on_unknown: str = "raise"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``edge_index`` (2, E) and ``edge_weight`` (E,) over ``genes`` (see
        :func:`monai_dianet.apps.tcga.gdc.string_edges_to_index`); empty when the cohort has no edge list."""
        if self.edges is None:
            return torch.zeros((2, 0), dtype=torch.long), torch.zeros(0, dtype=torch.float32)
        return string_edges_to_index(
            self.edges,
            genes,
            gene_names=self.gene_info["gene_name"],
            universe=self.expression.columns,
            min_score=min_score,
            on_unknown=on_unknown,
        )


def load_tcga_cohort(
    root: str | Path,
    sample_sheet: str | Path | None = AUTO,
    rna_dir: str | Path | None = None,
    clinical: str | Path | None = AUTO,
    labels: str | Path | None = "labels.tsv",
    edges: str | Path | None = AUTO,
    patches: str | Path | None = AUTO,
    column: str = "tpm_unstranded",
    clinical_columns: Sequence[str] | None = None,
    label_column: str = "label",
    sample_types: Sequence[str] | None = None,
    aggregate: str = "first",
    require_clinical: bool = True,
    on_mismatch: str = "raise",
    progress: bool = False,
) -> TCGACohort:
    """Read a TCGA cohort folder and align its tables on ``case_submitter_id``.

    File arguments are relative to ``root`` (or absolute) and must exist; None leaves a table out (that
    modality is then absent for every case); ``"auto"`` (the default for all but the labels) uses the
    standard name (``gdc_sample_sheet.tsv``, ``clinical.tsv``, ``string_edges.tsv``, ``patches/``) or a unique
    GDC-style match (``gdc_sample_sheet.<date>.tsv``, ``clinical.cart.<date>/clinical.tsv``), and leaves the
    table out with a warning when there is none.

    The label table defines the cohort. A case found in another table but not in the labels, or a labelled
    case missing from ``clinical.tsv`` (when ``require_clinical``; GDC lists every case there, with ``'--``
    values when nothing is known) is a mismatch: ``on_mismatch="raise"`` raises
    :class:`~monai_dianet.apps.tcga.gdc.CaseMismatchError` naming the ids and tables, ``"drop"`` keeps the common
    cases. A labelled case without RNA-seq file or patches simply lacks that modality.

    Args:
        root: cohort folder.
        sample_sheet: GDC sample sheet of the STAR gene-count files.
        rna_dir: folder of the ``<File ID>/<File Name>`` downloads (default ``root/rna_seq`` when it exists,
            else the sample sheet's folder).
        clinical: GDC ``clinical.tsv``.
        labels: label table (``case_submitter_id``, ``label_column``); None: no label table, the cohort is every
            case of the clinical table, all of class 0 (e.g. for survival, see
            :func:`~monai_dianet.apps.tcga.load_tcga_survival_cohort`).
        edges: STRING-like edge list.
        patches: histology patch folder (see :func:`list_histology_patches`).
        column: STAR value column (``tpm_unstranded``, ``unstranded``, ...).
        clinical_columns: clinical columns to keep (default: the :data:`DEFAULT_CLINICAL_COLUMNS` present).
        label_column: label column of the label table.
        sample_types: ``Sample Type`` filter for the STAR files.
        aggregate: several samples per case: ``"first"`` (primary tumour first), ``"mean"`` or ``"raise"``.
        require_clinical: every labelled case must appear in the clinical table.
        on_mismatch: ``"raise"`` or ``"drop"``.
        progress: progress bar while reading STAR files.

    Returns:
        :class:`TCGACohort`.

    Raises:
        FileNotFoundError: missing files or folders.
        CaseMismatchError: case ids that disagree between tables (``on_mismatch="raise"``).
        ValueError: explicit ``clinical_columns`` not in the table, and the readers' format errors.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"TCGA cohort folder not found: {root}")
    sheet_path = _find(root, sample_sheet, "sample_sheet")
    clinical_path = _find(root, clinical, "clinical")
    edges_path = _find(root, edges, "edges")
    patch_path = _find(root, patches, "patches")

    if sheet_path is not None:
        if rna_dir is None:
            rna_dir = root / "rna_seq" if (root / "rna_seq").is_dir() else sheet_path.parent
        rna_root = _resolve(root, rna_dir)
        expression = read_gdc_star_counts(
            sheet_path, rna_root, column=column, sample_types=sample_types, aggregate=aggregate, progress=progress
        )
        gene_info = read_gdc_gene_info(sheet_path, rna_root)
    else:
        expression = pd.DataFrame(index=pd.Index([], name="case_submitter_id", dtype=str))
        gene_info = pd.DataFrame(columns=["gene_name", "gene_type"])

    if clinical_path is not None:
        clinical_table = read_gdc_clinical(clinical_path)
        if clinical_columns is None:
            columns = [c for c in DEFAULT_CLINICAL_COLUMNS if c in clinical_table.columns]
        else:
            columns = list(clinical_columns)
            unknown = [c for c in columns if c not in clinical_table.columns]
            if unknown:
                raise ValueError(
                    f"clinical column(s) {unknown} not in {clinical_path}; available {list(clinical_table.columns)}."
                )
        clinical_table = clinical_table[columns]
    else:
        clinical_table = pd.DataFrame(index=pd.Index([], name="case_submitter_id", dtype=str))

    if labels is not None:
        label_path = _resolve(root, labels)
        label_series = read_label_table(label_path, label_column=label_column)
        reference = f"label table {label_path.name}"
    elif clinical_path is None:
        raise FileNotFoundError(f"no clinical table in {root}: without a label table the cohort is its cases.")
    else:  # every case of the clinical table, one class
        label_series = pd.Series(0, index=clinical_table.index, name=label_column)
        reference = f"clinical table {clinical_path.name}"
    patch_map = list_histology_patches(patch_path) if patch_path is not None else {}
    tables = {}
    if sheet_path is not None:
        tables[f"sample sheet {sheet_path.name}"] = expression.index
    if clinical_path is not None:
        tables[f"clinical table {clinical_path.name}"] = clinical_table.index
    if patch_path is not None:
        tables[f"patch folder {patch_path.name}"] = patch_map.keys()
    required = [f"clinical table {clinical_path.name}"] if (clinical_path is not None and require_clinical) else []
    keep = align_case_ids((reference, label_series.index), tables, required, on_mismatch)

    label_series = label_series.loc[keep]
    classes = sorted(label_series.unique().tolist())
    label_index = label_series.map({v: i for i, v in enumerate(classes)}).astype(int)
    edge_table = read_string_edge_table(edges_path) if edges_path is not None else None
    return TCGACohort(
        labels=label_index,
        classes=classes,
        expression=expression.loc[[c for c in expression.index if c in set(keep)]],
        clinical=clinical_table.reindex(keep),
        patches={c: p for c, p in patch_map.items() if c in set(keep)},
        gene_info=gene_info,
        edges=edge_table,
    )


def build_tcga_datalist(root: str | Path, **kwargs) -> list[dict]:
    """Raw per-case datalist of a cohort folder: ``load_tcga_cohort(root, **kwargs).datalist()``.

    See :meth:`TCGACohort.datalist` for the keys.
    """
    return load_tcga_cohort(root, **kwargs).datalist()


class _TCGAItemd(MapTransform):
    """Final step of :class:`TCGAMultimodalDataset`: mask, label and graph tensors; zero absent modalities."""

    def __init__(self, edge_index: torch.Tensor, edge_weight: torch.Tensor) -> None:
        super().__init__(keys=("image", "genes", "clinical"))
        self.edge_index = edge_index
        self.edge_weight = edge_weight

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        mask = torch.tensor(np.array(d["modality_mask"], dtype=bool))
        for present, key in zip(mask.tolist(), self.keys):
            if not present:
                d[key] = torch.zeros_like(d[key])
        d["modality_mask"] = mask
        d["label"] = torch.as_tensor(int(d["label"]), dtype=torch.long)
        d["graph"] = self.edge_index
        d["graph_weight"] = self.edge_weight
        return d


class TCGAMultimodalDataset(Dataset):
    """MONAI ``Dataset`` of multimodal TCGA cases (histology patch, gene expression, clinical, gene graph).

    Applies, per item: :class:`~monai_dianet.apps.tcga.transforms.LoadHistologyPatchd` on ``image``,
    :class:`~monai_dianet.apps.tcga.transforms.ScaleGeneExpressiond` on ``genes``,
    :class:`~monai_dianet.apps.tcga.transforms.EncodeClinicald` on ``clinical``, then adds the tensors listed in
    the module docstring, then ``transform`` (e.g. image augmentation). The preprocessors must already be
    fitted (on the training cases only).

    Args:
        data: datalist from :meth:`TCGACohort.datalist`.
        gene_scaler: fitted :class:`~monai_dianet.apps.tcga.transforms.ScaleGeneExpression`.
        clinical_encoder: fitted :class:`~monai_dianet.apps.tcga.transforms.EncodeClinical`.
        edge_index: (2, E) gene graph over ``gene_scaler.selected_genes`` (default: no edges).
        edge_weight: (E,) edge weights (default ones).
        spatial_size: patch size ``(H, W)``.
        random_patch: pick a random patch of the case at each access (training) instead of the first.
        transform: extra transform applied to each finished item.

    Raises:
        ValueError: when the graph and the gene count disagree.

    Example::

        ds = TCGAMultimodalDataset(splits["training"], scaler, encoder, edge_index, edge_weight, random_patch=True)
        item = ds[0]; item["genes"].shape   # (G,)
    """

    def __init__(
        self,
        data: Sequence[Mapping],
        gene_scaler: ScaleGeneExpression,
        clinical_encoder: EncodeClinical,
        edge_index: torch.Tensor | None = None,
        edge_weight: torch.Tensor | None = None,
        spatial_size: Sequence[int] = (64, 64),
        random_patch: bool = False,
        transform: Callable | None = None,
    ) -> None:
        num_genes = gene_scaler.num_features
        edge_index = torch.zeros((2, 0), dtype=torch.long) if edge_index is None else torch.as_tensor(edge_index)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}.")
        if edge_index.numel() and int(edge_index.max()) >= num_genes:
            raise ValueError(f"edge_index refers to node {int(edge_index.max())} but there are {num_genes} genes.")
        if edge_weight is None:
            edge_weight = torch.ones(edge_index.shape[1], dtype=torch.float32)
        edge_weight = torch.as_tensor(edge_weight, dtype=torch.float32)
        if edge_weight.shape != (edge_index.shape[1],):
            raise ValueError(f"edge_weight must have shape ({edge_index.shape[1]},), got {tuple(edge_weight.shape)}.")
        self.gene_scaler = gene_scaler
        self.clinical_encoder = clinical_encoder
        self.edge_index = edge_index.long()
        self.edge_weight = edge_weight
        steps = [
            LoadHistologyPatchd("image", spatial_size=spatial_size, random_patch=random_patch),
            ScaleGeneExpressiond("genes", gene_scaler),
            EncodeClinicald("clinical", clinical_encoder),
            _TCGAItemd(self.edge_index, self.edge_weight),
        ]
        if transform is not None:
            steps.append(transform)
        super().__init__(data=list(data), transform=Compose(steps))


def tcga_collate(batch: Sequence[Mapping]) -> dict:
    """Collate :class:`TCGAMultimodalDataset` items, batching the gene graphs the PyTorch Geometric way.

    Every key but ``graph``/``graph_weight`` goes through MONAI's ``list_data_collate`` (tensors stacked to
    ``(B, ...)``, ``case_id`` a list). ``graph`` becomes a ``torch_geometric.data.Batch`` of one graph per
    patient: ``x`` (B * G, 1) the patient's gene values, ``edge_index`` offset per graph, ``edge_weight``,
    ``batch`` (B * G,) and ``ptr``. Needs ``torch_geometric`` (the ``graph`` extra).
    """
    from torch_geometric.data import Batch, Data

    graphs = [
        Data(
            x=item["genes"].reshape(-1, 1),
            edge_index=item["graph"],
            edge_weight=item["graph_weight"],
            num_nodes=int(item["genes"].shape[0]),
        )
        for item in batch
    ]
    rest = [{k: v for k, v in item.items() if k not in ("graph", "graph_weight")} for item in batch]
    out = list_data_collate(rest)
    out["graph"] = Batch.from_data_list(graphs)
    return out


@dataclass
class TCGAData:
    """Everything :func:`build_tcga_data` prepares for training on a TCGA cohort.

    Attributes:
        cohort: the aligned tables.
        splits: ``"training"``/``"validation"``/``"test"`` raw datalists.
        datasets: the matching :class:`TCGAMultimodalDataset` objects (training with ``random_patch``).
        gene_scaler, clinical_encoder: preprocessing fitted on the training cases.
        edge_index, edge_weight: the gene graph over the selected genes.
    """

    cohort: TCGACohort
    splits: dict[str, list]
    datasets: dict[str, TCGAMultimodalDataset]
    gene_scaler: ScaleGeneExpression
    clinical_encoder: EncodeClinical
    edge_index: torch.Tensor
    edge_weight: torch.Tensor
    extra: dict = field(default_factory=dict)

    @property
    def num_genes(self) -> int:
        return self.gene_scaler.num_features

    @property
    def num_clinical(self) -> int:
        return self.clinical_encoder.num_features

    @property
    def clinical_cardinalities(self) -> list[int]:
        return self.clinical_encoder.cardinalities

    @property
    def num_classes(self) -> int:
        return self.cohort.num_classes

    @property
    def genes(self) -> list[str]:
        """Selected gene ids (node order of the graph and of ``genes``)."""
        return list(self.gene_scaler.selected_genes)

    @property
    def gene_names(self) -> list[str]:
        """Symbols of the selected genes (the id when unknown)."""
        names = self.cohort.gene_info["gene_name"]
        return [str(names.get(g, g)) for g in self.genes]

    @property
    def clinical_feature_names(self) -> list[str]:
        return self.clinical_encoder.feature_names

    def save_preprocessing(self, path: str | Path) -> None:
        """Write the fitted preprocessing, classes, gene names and graph as one JSON file
        (read back by :func:`load_tcga_preprocessing`)."""
        state = {
            "gene_scaler": self.gene_scaler.to_dict(),
            "clinical_encoder": self.clinical_encoder.to_dict(),
            "classes": [c if isinstance(c, (int, str)) else str(c) for c in self.cohort.classes],
            "gene_names": self.gene_names,
            "edge_index": self.edge_index.tolist(),
            "edge_weight": self.edge_weight.tolist(),
            "train_case_ids": [d["case_id"] for d in self.splits["training"]],
            "split_case_ids": {name: [d["case_id"] for d in items] for name, items in self.splits.items()},
        }
        Path(path).write_text(json.dumps(state))


def load_tcga_preprocessing(path: str | Path) -> dict:
    """Read :meth:`TCGAData.save_preprocessing` output.

    Returns:
        dict with ``gene_scaler`` and ``clinical_encoder`` (fitted objects), ``classes``, ``gene_names``,
        ``edge_index`` (2, E) int64 tensor, ``edge_weight`` (E,) float32 tensor, ``train_case_ids`` and
        ``split_case_ids`` (``{split name: case ids}`` of the training cohort; ``{}`` in files of older versions).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TCGA preprocessing file not found: {path}")
    state = json.loads(path.read_text())
    missing = [k for k in ("gene_scaler", "clinical_encoder", "edge_index") if k not in state]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; not a TCGA preprocessing file.")
    return {
        "gene_scaler": ScaleGeneExpression.from_dict(state["gene_scaler"]),
        "clinical_encoder": EncodeClinical.from_dict(state["clinical_encoder"]),
        "classes": state.get("classes", []),
        "gene_names": state.get("gene_names", []),
        "edge_index": torch.tensor(state["edge_index"], dtype=torch.long).reshape(2, -1),
        "edge_weight": torch.tensor(state.get("edge_weight", []), dtype=torch.float32),
        "train_case_ids": state.get("train_case_ids", []),
        "split_case_ids": state.get("split_case_ids", {}),
    }


def build_tcga_data(
    root: str | Path | TCGACohort,
    num_genes: int | None = 128,
    genes: Sequence[str] | None = None,
    clinical_columns: Sequence[str] | None = None,
    categorical_mode: str = "onehot",
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    spatial_size: Sequence[int] = (64, 64),
    random_patch_train: bool = True,
    min_edge_score: float = 0.0,
    unknown_genes: str = "raise",
    train_transform: Callable | None = None,
    **cohort_kwargs,
) -> TCGAData:
    """Read a cohort, split it by case, fit the preprocessing on the training cases and build datasets.

    Args:
        root: cohort folder (GDC files, see :func:`load_tcga_cohort`), or a loaded cohort (then
            ``clinical_columns`` and ``cohort_kwargs`` must be left out).
        num_genes: top-variance genes kept (on the training cases); ignored when ``genes`` is given; None
            keeps all genes.
        genes: explicit gene ids to keep.
        clinical_columns: clinical columns (default :data:`DEFAULT_CLINICAL_COLUMNS` present); float
            columns and AJCC stage columns are numeric, the others categorical.
        categorical_mode: ``"onehot"`` or ``"index"`` (see :class:`~monai_dianet.apps.tcga.transforms.EncodeClinical`).
        val_fraction, test_fraction, seed: split (:func:`monai_dianet.data.split_datalist`, stratified by label).
        spatial_size: histology patch size ``(H, W)``.
        random_patch_train: random patch per access in the training dataset.
        min_edge_score: drop graph edges with a lower STRING score (0-1).
        unknown_genes: ``"raise"`` or ``"drop"`` for edge-list genes absent from the expression files.
        train_transform: extra transform for training items (e.g. image augmentation).
        cohort_kwargs: passed to :func:`load_tcga_cohort` (file names, ``column``, ``on_mismatch``...).

    Returns:
        :class:`TCGAData`.
    """
    if isinstance(root, TCGACohort):
        if clinical_columns is not None or cohort_kwargs:
            raise ValueError("a loaded cohort was given: clinical_columns and cohort arguments do not apply.")
        cohort = root
    else:
        cohort = load_tcga_cohort(root, clinical_columns=clinical_columns, **cohort_kwargs)
    splits = split_datalist(cohort.datalist(genes=[]), val_fraction, test_fraction, seed, label_key="label")
    train_ids = [d["case_id"] for d in splits["training"]]
    train_rna = [c for c in train_ids if c in cohort.expression.index]
    if not train_rna:
        raise ValueError("no training case has RNA-seq data: cannot fit the gene expression preprocessing.")
    scaler = ScaleGeneExpression(genes=genes, num_genes=None if genes is not None else num_genes)
    scaler.fit(cohort.expression.loc[train_rna])
    clinical_train = cohort.clinical.loc[train_ids]
    numeric = [
        c for c in cohort.clinical.columns
        if c in DEFAULT_STAGE_COLUMNS or pd.api.types.is_numeric_dtype(cohort.clinical[c])
    ]
    categorical = [c for c in cohort.clinical.columns if c not in numeric]
    encoder = EncodeClinical(numeric=numeric, categorical=categorical, categorical_mode=categorical_mode)
    encoder.fit(clinical_train)
    edge_index, edge_weight = cohort.edge_index(scaler.selected_genes, min_edge_score, unknown_genes)
    full_splits = {k: cohort.datalist([d["case_id"] for d in v], genes=scaler.selected_genes)
                   for k, v in splits.items()}
    datasets = {
        name: TCGAMultimodalDataset(
            items,
            scaler,
            encoder,
            edge_index,
            edge_weight,
            spatial_size=spatial_size,
            random_patch=random_patch_train and name == "training",
            transform=train_transform if name == "training" else None,
        )
        for name, items in full_splits.items()
    }
    return TCGAData(cohort, full_splits, datasets, scaler, encoder, edge_index, edge_weight)
