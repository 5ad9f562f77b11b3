# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Readers for files downloaded from the NCI Genomic Data Commons (GDC) and companion tables.

Formats read (real GDC downloads and :func:`monai_dianet.data.synthetic.generate_tcga` output alike):

- STAR "augmented gene counts" (``*.rna_seq.augmented_star_gene_counts.tsv``, GDC data release 32+): a
  ``# gene-model: GENCODE v36`` comment line, the header ``gene_id gene_name gene_type unstranded
  stranded_first stranded_second tpm_unstranded fpkm_unstranded fpkm_uq_unstranded``, four summary rows
  ``N_unmapped``, ``N_multimapping``, ``N_noFeature``, ``N_ambiguous`` (counts only), then one row per gene with
  a versioned Ensembl id (``ENSG00000000003.15``; GENCODE also has ``..._PAR_Y`` copies of the
  pseudo-autosomal genes). Files may be gzip-compressed.
- the GDC sample sheet (``gdc_sample_sheet.*.tsv``: ``File ID``, ``File Name``, ..., ``Case ID``,
  ``Sample ID``, ``Sample Type``) that maps each downloaded file (``<root>/<File ID>/<File Name>``) to its case.
- the GDC ``clinical.tsv`` (``'--`` for missing values; one row per case *and treatment*, so cases repeat).
  Both the classic column names (``case_submitter_id``, ``age_at_index``) and the dotted names of newer
  downloads (``cases.submitter_id``, ``demographic.age_at_index``) are accepted.
- a patient-level label table, a STRING-like gene-gene edge list and a folder of histology patches.

Everything is indexed by the TCGA case barcode (``case_submitter_id``, the sample sheet's ``Case ID``, e.g.
``TCGA-05-4244``). These readers are hand-written on top of pandas: no maintained library reads these GDC
files into aligned per-case tables.
"""

from __future__ import annotations

import gzip
import re
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from monai_dianet.data.synthetic.tcga import STAR_COLUMNS
from monai_dianet.utils.errors import InputError

__all__ = [
    "GDC_NA_VALUES",
    "STAR_COUNT_COLUMNS",
    "CaseMismatchError",
    "strip_gene_version",
    "read_gdc_sample_sheet",
    "read_star_gene_counts",
    "read_gdc_star_counts",
    "read_gdc_gene_info",
    "read_gdc_clinical",
    "read_label_table",
    "read_string_edge_table",
    "string_edges_to_index",
    "read_string_edges",
    "list_histology_patches",
    "align_case_ids",
]

GDC_NA_VALUES: tuple[str, ...] = ("'--", "--", "")
"""Strings GDC writes for a missing value (``'--`` in ``clinical.tsv``)."""

STAR_COUNT_COLUMNS: tuple[str, ...] = STAR_COLUMNS[3:]
"""The value columns of a STAR augmented gene-counts file (after ``gene_id``, ``gene_name``, ``gene_type``), any
of which can be read."""

_SHEET_REQUIRED = ("File ID", "File Name", "Case ID")
_STAR_SUFFIXES = (".augmented_star_gene_counts.tsv", ".augmented_star_gene_counts.tsv.gz")
_GENE_VERSION = re.compile(r"^(ENS[A-Z]*G\d+)\.\d+(_PAR_Y)?$")
_TCGA_CASE = re.compile(r"^(TCGA-[A-Z0-9]{2}-[A-Z0-9]{4})")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


class CaseMismatchError(InputError):
    """Case ids of two tables disagree (a case found in one table and not in another); a ``ValueError`` reported
    as one line by bundles and command lines."""


def _preview(ids: Iterable, limit: int = 10) -> str:
    ids = sorted(str(i) for i in ids)
    more = f" ... ({len(ids)} in all)" if len(ids) > limit else ""
    return f"{ids[:limit]}{more}"


def strip_gene_version(gene_id: str) -> str:
    """Drop the version suffix of an Ensembl gene id, keeping GENCODE's ``_PAR_Y`` marker.

    ``ENSG00000000003.15`` -> ``ENSG00000000003``; ``ENSG00000002586.20_PAR_Y`` -> ``ENSG00000002586_PAR_Y``
    (so the X and Y copies of a pseudo-autosomal gene stay distinct). Other strings are returned unchanged.
    """
    match = _GENE_VERSION.match(gene_id)
    return match.group(1) + (match.group(2) or "") if match else gene_id


def read_gdc_sample_sheet(sample_sheet: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read a GDC sample sheet and normalise its ``Case ID`` to one barcode per file.

    GDC writes ``"TCGA-XX-YYYY, TCGA-XX-YYYY"`` when a file belongs to several samples of one case; such
    repeats collapse to one id.

    Args:
        sample_sheet: path of the tab-separated sample sheet, or an already loaded DataFrame.

    Returns:
        DataFrame with (at least) the columns ``File ID``, ``File Name``, ``Case ID``, one row per file.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for missing required columns, duplicated ``File ID`` values or a file mapped to several
            different cases.
    """
    name = "sample sheet"
    if isinstance(sample_sheet, pd.DataFrame):
        sheet = sample_sheet.copy()
    else:
        path = Path(sample_sheet)
        if not path.is_file():
            raise FileNotFoundError(f"GDC sample sheet not found: {path}")
        name = str(path)
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in _SHEET_REQUIRED if c not in sheet.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; a GDC sample sheet has {list(_SHEET_REQUIRED)}.")
    duplicated = sheet["File ID"][sheet["File ID"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{name}: duplicated File ID(s) {_preview(set(duplicated))}.")
    cases = []
    for file_id, value in zip(sheet["File ID"], sheet["Case ID"]):
        ids = {v.strip() for v in str(value).split(",") if v.strip()}
        if len(ids) != 1:
            raise ValueError(f"{name}: file {file_id} maps to {len(ids)} cases {sorted(ids)}; expected exactly one.")
        cases.append(ids.pop())
    sheet["Case ID"] = cases
    return sheet.reset_index(drop=True)


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_star_gene_counts(
    path: str | Path, gene_id_version: bool = True, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read one STAR augmented gene-counts file (GDC ``*.rna_seq.augmented_star_gene_counts.tsv``).

    The ``#`` comment lines and the ``N_unmapped``/``N_multimapping``/``N_noFeature``/``N_ambiguous`` summary
    rows are skipped.

    Args:
        path: the TSV (or ``.tsv.gz``) file.
        gene_id_version: keep the Ensembl version suffix of ``gene_id`` (False strips it, see
            :func:`strip_gene_version`).
        columns: columns to read besides ``gene_id`` (default all; reading one is faster on 60k-gene files).

    Returns:
        DataFrame indexed by ``gene_id`` with ``gene_name``, ``gene_type`` and the numeric count columns
        found in the file (float), or just ``columns``.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when ``gene_id`` or every count column is missing, or gene ids repeat.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"STAR gene-counts file not found: {path}")
    n_comment = 0
    with _open_text(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            n_comment += 1
    header = pd.read_csv(path, sep="\t", skiprows=n_comment, nrows=0).columns
    if columns is not None:
        missing = [c for c in ["gene_id", *columns] if c not in header]
        if missing:
            raise ValueError(f"{path}: column(s) {missing} not found; available {list(header)}.")
    usecols = None if columns is None else ["gene_id", *columns]
    table = pd.read_csv(path, sep="\t", skiprows=n_comment, usecols=usecols, keep_default_na=False,
                        dtype={"gene_id": str, "gene_name": str, "gene_type": str},
                        na_values={c: [""] for c in STAR_COUNT_COLUMNS})
    has_values = columns is not None or any(c in table.columns for c in STAR_COUNT_COLUMNS)
    if "gene_id" not in table.columns or not has_values:
        raise ValueError(
            f"{path}: not a STAR augmented gene-counts table; expected the columns gene_id and some of "
            f"{list(STAR_COUNT_COLUMNS)}, found {list(table.columns)}."
        )
    table = table[~table["gene_id"].str.startswith("N_")].copy()
    if not gene_id_version:
        table["gene_id"] = [strip_gene_version(g) for g in table["gene_id"]]
    duplicated = table["gene_id"][table["gene_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{path}: duplicated gene id(s) {_preview(set(duplicated))}.")
    for c in STAR_COUNT_COLUMNS:
        if c in table.columns:
            table[c] = pd.to_numeric(table[c], errors="raise").astype(float)
    return table.set_index("gene_id")


def _star_files(sheet: pd.DataFrame, root_dir: Path, name: str) -> pd.DataFrame:
    """Rows of the sample sheet that are STAR gene-count files, with their resolved paths."""
    is_star = sheet["File Name"].str.endswith(_STAR_SUFFIXES)
    star = sheet[is_star].copy()
    if star.empty:
        raise ValueError(f"{name}: no STAR gene-count file (File Name ending in {_STAR_SUFFIXES[0]}) listed.")
    paths = []
    for file_id, file_name in zip(star["File ID"], star["File Name"]):
        candidates = (root_dir / file_id / file_name, root_dir / file_name)
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"STAR file of File ID {file_id} not found: looked for {candidates[0]} and {candidates[1]}."
            )
        paths.append(found)
    star["path"] = paths
    return star


def _sample_priority(row: Mapping[str, Any]) -> int:
    """Order used to pick one sample per case: 0 primary tumour, 1 metastasis, 2 recurrence, 3 other, 4 normal.

    Read from ``Sample Type`` (older sample sheets), else ``Tissue Type`` / ``Tumor Descriptor`` (newer ones);
    without either, every sample ranks 3 and the ``Sample ID`` order decides (TCGA sample codes put tumours,
    01-09, before normals, 10-19).
    """
    sample_type = str(row.get("Sample Type") or "").lower()
    if sample_type:
        if sample_type.startswith("primary"):
            return 0
        if "metasta" in sample_type:
            return 1
        if "recurrent" in sample_type:
            return 2
        return 4 if "normal" in sample_type else 3
    tissue = str(row.get("Tissue Type") or "").lower()
    descriptor = str(row.get("Tumor Descriptor") or "").lower()
    if tissue == "normal":
        return 4
    return {"primary": 0, "metastatic": 1, "recurrence": 2}.get(descriptor, 3)


def read_gdc_star_counts(
    sample_sheet: str | Path | pd.DataFrame,
    root_dir: str | Path,
    column: str = "tpm_unstranded",
    gene_id_version: bool = False,
    sample_types: Collection[str] | None = None,
    aggregate: str = "first",
    progress: bool = False,
) -> pd.DataFrame:
    """Read the STAR gene-count files listed in a GDC sample sheet into one case-by-gene table.

    Each file is looked up as ``root_dir/<File ID>/<File Name>`` (the ``gdc-client`` download layout), then
    as ``root_dir/<File Name>``. Rows of the sample sheet that are not STAR gene-count files (slides,
    clinical supplements...) are ignored.

    Several samples of one case (e.g. a primary tumour and a solid tissue normal) are resolved by
    ``aggregate``:

    - ``"first"``: keep one sample, preferring primary tumour, then metastatic, recurrent, other, normal
      (from ``Sample Type``, or ``Tissue Type``/``Tumor Descriptor`` in newer sheets); ties broken by
      ``Sample ID`` then ``File ID`` (deterministic, never mixes tumour and normal).
    - ``"mean"``: average the values of all the case's samples (after the ``sample_types`` filter).
    - ``"raise"``: ValueError naming the case and its files.

    Args:
        sample_sheet: GDC sample sheet path or DataFrame (see :func:`read_gdc_sample_sheet`).
        root_dir: folder the files were downloaded into.
        column: value column to read, one of :data:`STAR_COUNT_COLUMNS` (``"unstranded"`` for raw counts).
        gene_id_version: keep the Ensembl version suffix (default False: ``ENSG00000000003``).
        sample_types: keep only these ``Sample Type`` values (e.g. ``{"Primary Tumor"}``); None keeps all.
        aggregate: ``"first"`` | ``"mean"`` | ``"raise"``, see above.
        progress: show a tqdm progress bar over files.

    Returns:
        float DataFrame indexed by ``case_submitter_id`` (the sample sheet's ``Case ID``, in first-appearance
        order) with one column per gene id (``columns.name == "gene_id"``), in the files' gene order.

    Raises:
        FileNotFoundError: missing sample sheet or STAR file.
        ValueError: unknown ``column``/``aggregate``, files with different gene sets, no usable file, or
            several samples per case with ``aggregate="raise"``.

    Example::

        tpm = read_gdc_star_counts("gdc_sample_sheet.tsv", "gdc_download", column="tpm_unstranded")
        tpm.loc["TCGA-05-4244", "ENSG00000141510"]   # TP53
    """
    if column not in STAR_COUNT_COLUMNS:
        raise ValueError(f"column must be one of {list(STAR_COUNT_COLUMNS)}, got {column!r}.")
    if aggregate not in ("first", "mean", "raise"):
        raise ValueError(f"aggregate must be 'first', 'mean' or 'raise', got {aggregate!r}.")
    name = "sample sheet" if isinstance(sample_sheet, pd.DataFrame) else str(sample_sheet)
    sheet = read_gdc_sample_sheet(sample_sheet)
    root_dir = Path(root_dir)
    if not root_dir.is_dir():
        raise FileNotFoundError(f"GDC download folder not found: {root_dir}")
    if sample_types is not None:
        if "Sample Type" not in sheet.columns:
            raise ValueError(f"{name}: sample_types given but the sheet has no 'Sample Type' column.")
        sheet = sheet[sheet["Sample Type"].isin(set(sample_types))]
    star = _star_files(sheet, root_dir, name)
    if "Sample ID" not in star.columns:
        star["Sample ID"] = ""
    star["priority"] = [_sample_priority(row) for row in star.to_dict("records")]
    star["order"] = np.arange(len(star))
    case_order = list(dict.fromkeys(star["Case ID"]))

    groups = star.groupby("Case ID", sort=False)
    if aggregate == "raise":
        multi = {case: list(g["File ID"]) for case, g in groups if len(g) > 1}
        if multi:
            case, files = next(iter(multi.items()))
            raise ValueError(
                f"{name}: {len(multi)} case(s) have several STAR files, e.g. {case}: {files}; pass "
                "aggregate='first' or 'mean', or filter with sample_types."
            )
    if aggregate == "first":
        star = star.sort_values(["priority", "Sample ID", "File ID"], kind="stable")
        star = star.drop_duplicates("Case ID", keep="first").sort_values("order")

    from tqdm import tqdm

    genes: pd.Index | None = None
    values, cases = [], []
    for path, case in tqdm(list(zip(star["path"], star["Case ID"])), desc="STAR files", disable=not progress):
        table = read_star_gene_counts(path, gene_id_version=gene_id_version, columns=[column])
        if genes is None:
            genes = table.index
        elif not table.index.equals(genes):
            if len(table.index) != len(genes) or not table.index.isin(genes).all():
                raise ValueError(
                    f"{path}: its gene ids differ from those of the first file ({len(table.index)} vs "
                    f"{len(genes)} genes); all files must come from the same gene model."
                )
            table = table.reindex(genes)
        values.append(table[column].to_numpy(dtype=float))
        cases.append(case)
    frame = pd.DataFrame(np.stack(values), index=pd.Index(cases, name="case_submitter_id"),
                         columns=pd.Index(genes, name="gene_id"))
    if aggregate == "mean":
        frame = frame.groupby(level=0, sort=False).mean()
    frame = frame.loc[[c for c in case_order if c in frame.index]]
    frame.index.name = "case_submitter_id"
    return frame


def read_gdc_gene_info(
    sample_sheet: str | Path | pd.DataFrame, root_dir: str | Path, gene_id_version: bool = False
) -> pd.DataFrame:
    """Gene annotation (``gene_name``, ``gene_type``) of the STAR files listed in a sample sheet.

    Read from the first STAR file (all files of one GDC gene model share it).

    Args:
        sample_sheet: GDC sample sheet path or DataFrame.
        root_dir: download folder.
        gene_id_version: keep the Ensembl version suffix (default False), as in :func:`read_gdc_star_counts`.

    Returns:
        DataFrame indexed by ``gene_id`` with columns ``gene_name`` and ``gene_type``.
    """
    name = "sample sheet" if isinstance(sample_sheet, pd.DataFrame) else str(sample_sheet)
    star = _star_files(read_gdc_sample_sheet(sample_sheet), Path(root_dir), name)
    return read_star_gene_counts(star["path"].iloc[0], gene_id_version, columns=["gene_name", "gene_type"])


def _normalise_clinical_columns(columns: Sequence[str]) -> list[str]:
    """Map the dotted names of newer GDC downloads (``demographic.age_at_index``) to the classic ones."""
    special = {"cases.submitter_id": "case_submitter_id", "cases.case_id": "case_id",
               "project.project_id": "project_id"}
    out, seen = [], set()
    for c in columns:
        new = special.get(c, c.split(".", 1)[1] if "." in c else c)
        if new in seen:
            new = c
        seen.add(new)
        out.append(new)
    return out


def read_gdc_clinical(
    path: str | Path,
    multi_value: str = "join",
    na_values: Sequence[str] = GDC_NA_VALUES,
) -> pd.DataFrame:
    """Read a GDC ``clinical.tsv`` into one row per case.

    ``'--`` (and the other ``na_values``) become NaN; columns whose every present value is a number become
    float; text such as ``"not reported"`` is kept as a category. GDC repeats a case once per treatment (and
    per diagnosis/follow-up): the rows of a case are collapsed, each column taking the case's single
    non-missing value; when a column has several different values for one case, numeric columns take the
    first one in file order and text columns follow ``multi_value``.

    Args:
        path: the tab-separated clinical table.
        multi_value: for text columns with several values per case, ``"join"`` (``"; "``-joined distinct
            values in file order, e.g. ``"Pharmaceutical Therapy, NOS; Radiation Therapy, NOS"``),
            ``"first"`` or ``"raise"``.
        na_values: strings meaning missing.

    Returns:
        DataFrame indexed by ``case_submitter_id`` (first-appearance order).

    Raises:
        FileNotFoundError: missing file.
        ValueError: no ``case_submitter_id`` (or ``cases.submitter_id``) column, an unknown ``multi_value``,
            or conflicting values with ``multi_value="raise"``.

    Example::

        clinical = read_gdc_clinical("clinical.tsv")
        clinical.loc["TCGA-05-4244", "age_at_index"]   # 70.0
    """
    if multi_value not in ("join", "first", "raise"):
        raise ValueError(f"multi_value must be 'join', 'first' or 'raise', got {multi_value!r}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GDC clinical table not found: {path}")
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=list(na_values))
    raw.columns = _normalise_clinical_columns(list(raw.columns))
    if "case_submitter_id" not in raw.columns:
        raise ValueError(f"{path}: no 'case_submitter_id' (or 'cases.submitter_id') column; found "
                         f"{list(raw.columns)[:12]}...")
    if raw["case_submitter_id"].isna().any():
        raise ValueError(f"{path}: {int(raw['case_submitter_id'].isna().sum())} row(s) without a case_submitter_id.")
    numeric = []
    for c in raw.columns:
        if c == "case_submitter_id":
            continue
        present = raw[c].dropna()
        converted = pd.to_numeric(present, errors="coerce")
        if converted.notna().all():
            raw[c] = pd.to_numeric(raw[c], errors="coerce").astype(float)
            numeric.append(c)
    text = [c for c in raw.columns if c not in numeric and c != "case_submitter_id"]

    columns = [c for c in raw.columns if c != "case_submitter_id"]
    grouped = raw.groupby("case_submitter_id", sort=False)
    clinical = grouped[columns].first()  # the first non-missing value of each column, per case
    if text:
        several = grouped[text].nunique() > 1
        for c in several.columns[several.any()]:
            for case in several.index[several[c]]:
                distinct = list(dict.fromkeys(raw.loc[raw["case_submitter_id"] == case, c].dropna()))
                if multi_value == "raise":
                    raise ValueError(f"{path}: case {case!r} has several values {distinct} in column {c!r}.")
                if multi_value == "join":
                    clinical.loc[case, c] = "; ".join(distinct)
    for c in numeric:
        clinical[c] = clinical[c].astype(float)
    clinical.index.name = "case_submitter_id"
    return clinical


def _separator(path: Path) -> str:
    return "," if path.suffix.lower() == ".csv" else "\t"


def read_label_table(
    path: str | Path, id_column: str = "case_submitter_id", label_column: str = "label"
) -> pd.Series:
    """Read a patient-level label table (``.csv`` comma-separated, anything else tab-separated).

    Args:
        path: label table with a case id column and a label column.
        id_column: column holding the case barcode.
        label_column: column holding the label; integer-like labels become ``int``, others stay strings.

    Returns:
        Series of labels indexed by ``case_submitter_id`` (file order), named ``label_column``.

    Raises:
        FileNotFoundError: missing file.
        ValueError: missing columns, duplicated case ids, or cases without a label.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label table not found: {path}")
    table = pd.read_csv(path, sep=_separator(path), dtype=str, keep_default_na=False, na_values=list(GDC_NA_VALUES))
    missing = [c for c in (id_column, label_column) if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(table.columns)}.")
    duplicated = table[id_column][table[id_column].duplicated()]
    if len(duplicated):
        raise ValueError(f"{path}: duplicated case id(s) {_preview(set(duplicated))}.")
    unlabeled = table[id_column][table[label_column].isna()]
    if len(unlabeled):
        raise ValueError(f"{path}: no label for case(s) {_preview(unlabeled)}.")
    labels = table.set_index(id_column)[label_column]
    as_number = pd.to_numeric(labels, errors="coerce")
    if as_number.notna().all() and (as_number == np.round(as_number)).all():
        labels = as_number.astype(int)
    labels.index.name = "case_submitter_id"
    return labels


_EDGE_COLUMN_SETS = (
    ("gene_a", "gene_b", "combined_score"),
    ("protein1", "protein2", "combined_score"),
    ("#node1", "node2", "combined_score"),
    ("node1", "node2", "combined_score"),
)


def read_string_edge_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a STRING-like gene-gene interaction list.

    Accepted headers (tab- or whitespace-separated): ``gene_a gene_b combined_score`` (the generator's),
    STRING ``protein.links`` files (``protein1 protein2 combined_score``) and STRING network exports
    (``#node1 node2 ... combined_score``), or any three ``columns`` given explicitly. Scores on STRING's
    0-1000 scale are divided by 1000.

    Args:
        path: the edge file.
        columns: names of the two endpoint columns and the score column, when not one of the above.

    Returns:
        DataFrame with columns ``gene_a``, ``gene_b`` (str) and ``combined_score`` (float in [0, 1]).

    Raises:
        FileNotFoundError: missing file.
        ValueError: no recognised columns, or non-numeric / negative scores.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"edge list not found: {path}")
    with open(path) as f:
        first = f.readline()
    sep = "\t" if "\t" in first else r"\s+"
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, engine="python" if sep != "\t" else "c")
    candidates = [tuple(columns)] if columns is not None else _EDGE_COLUMN_SETS
    chosen = next((cols for cols in candidates if all(c in table.columns for c in cols)), None)
    if chosen is None:
        raise ValueError(f"{path}: expected columns {[list(c) for c in candidates]}, found {list(table.columns)}.")
    edges = table[list(chosen)].copy()
    edges.columns = ["gene_a", "gene_b", "combined_score"]
    score = pd.to_numeric(edges["combined_score"], errors="coerce")
    if score.isna().any() or (score < 0).any():
        raise ValueError(f"{path}: combined_score must be non-negative numbers.")
    edges["combined_score"] = (score / 1000.0 if score.max() > 1.0 else score).astype(float)
    return edges


def string_edges_to_index(
    edges: pd.DataFrame,
    genes: Sequence[str],
    gene_names: Mapping[str, str] | pd.Series | None = None,
    universe: Iterable[str] | None = None,
    min_score: float = 0.0,
    on_unknown: str = "raise",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn an edge table into a PyTorch Geometric ``edge_index`` over the given (selected) genes.

    An endpoint is resolved, in order, as a gene id in ``universe``, the same id without its version
    suffix, or a gene symbol through ``gene_names`` (symbols repeated in GENCODE, such as ``Y_RNA``, map to
    their first gene id). Endpoints that resolve to no known gene are *unknown*: ``on_unknown="raise"``
    raises, ``"drop"`` drops their edges with a warning. Edges between known genes that are not both in
    ``genes`` (e.g. genes not kept by a top-variance selection) are left out silently.

    Args:
        edges: table from :func:`read_string_edge_table`.
        genes: the node order (gene ids), e.g. the selected genes of the expression preprocessing.
        gene_names: gene id -> symbol (e.g. ``read_gdc_gene_info(...)["gene_name"]``), to resolve symbols.
        universe: every gene id known to the cohort (default: ``genes``).
        min_score: keep edges with ``combined_score >= min_score`` (0-1 scale).
        on_unknown: ``"raise"`` or ``"drop"``.

    Returns:
        ``edge_index`` (2, E) int64, undirected (both directions), without self-loops or duplicates, sorted;
        ``edge_weight`` (E,) float32, the combined score (largest one for repeated pairs).

    Raises:
        ValueError: unknown genes with ``on_unknown="raise"`` (naming them), a bad ``on_unknown``, or genes
            repeated in ``genes``.
    """
    if on_unknown not in ("raise", "drop"):
        raise ValueError(f"on_unknown must be 'raise' or 'drop', got {on_unknown!r}.")
    genes = [str(g) for g in genes]
    position = {g: i for i, g in enumerate(genes)}
    if len(position) != len(genes):
        raise ValueError("genes contains repeated gene ids.")
    known = set(genes) if universe is None else set(map(str, universe)) | set(genes)
    stripped = {}
    for g in known:
        stripped.setdefault(strip_gene_version(g), g)
    by_name: dict[str, str] = {}
    if gene_names is not None:
        items = gene_names.items() if isinstance(gene_names, (Mapping, pd.Series)) else gene_names
        for gene_id, name in items:
            if str(gene_id) in known and isinstance(name, str):
                by_name.setdefault(name, str(gene_id))

    cache: dict[str, str | None] = {}

    def resolve(x: str) -> str | None:
        if x not in cache:
            if x in known:
                cache[x] = x
            elif strip_gene_version(x) in stripped:
                cache[x] = stripped[strip_gene_version(x)]
            else:
                cache[x] = by_name.get(x)
        return cache[x]

    a = [resolve(x) for x in edges["gene_a"]]
    b = [resolve(x) for x in edges["gene_b"]]
    unknown = {x for x, r in zip(edges["gene_a"], a) if r is None} | {
        x for x, r in zip(edges["gene_b"], b) if r is None
    }
    if unknown:
        message = f"{len(unknown)} gene(s) of the edge list are not known genes: {_preview(unknown)}"
        if on_unknown == "raise":
            raise ValueError(message + "; pass on_unknown='drop' to drop their edges (or give gene_names).")
        warnings.warn(message + "; their edges are dropped.", stacklevel=2)
    best: dict[tuple[int, int], float] = {}
    for ga, gb, score in zip(a, b, edges["combined_score"]):
        if ga is None or gb is None or ga not in position or gb not in position or score < min_score:
            continue
        i, j = position[ga], position[gb]
        if i == j:
            continue
        for key in ((i, j), (j, i)):
            best[key] = max(best.get(key, -np.inf), float(score))
    keys = sorted(best)
    edge_index = torch.tensor(keys, dtype=torch.long).reshape(-1, 2).T.contiguous()
    edge_weight = torch.tensor([best[k] for k in keys], dtype=torch.float32)
    return edge_index, edge_weight


def read_string_edges(
    path: str | Path | pd.DataFrame,
    genes: Sequence[str],
    gene_names: Mapping[str, str] | pd.Series | None = None,
    universe: Iterable[str] | None = None,
    min_score: float = 0.0,
    on_unknown: str = "raise",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a STRING-like edge list straight into ``edge_index`` over ``genes``.

    :func:`read_string_edge_table` followed by :func:`string_edges_to_index` (see both for the arguments).

    Example::

        edge_index, edge_weight = read_string_edges("string_edges.tsv", genes=selected_ids,
                                                    gene_names=info["gene_name"], universe=tpm.columns)
    """
    table = path if isinstance(path, pd.DataFrame) else read_string_edge_table(path)
    return string_edges_to_index(table, genes, gene_names=gene_names, universe=universe, min_score=min_score,
                                 on_unknown=on_unknown)


def list_histology_patches(
    patch_dir: str | Path, extensions: Sequence[str] = _IMAGE_EXTENSIONS
) -> dict[str, list[str]]:
    """List histology patch images per case.

    Layouts: one sub-folder per case named by its barcode (``patches/TCGA-05-4244/*.png``), and/or image
    files directly in ``patch_dir`` whose names start with a TCGA barcode (``TCGA-05-4244-01Z-00-DX1_3.png``,
    as tiles cut from GDC diagnostic slides are usually named). Case folders without images are left out
    (the case has no image modality).

    Args:
        patch_dir: the patch folder.
        extensions: image file extensions to list (case-insensitive).

    Returns:
        dict case barcode -> sorted list of image paths (str), cases sorted.

    Raises:
        FileNotFoundError: when ``patch_dir`` is not a folder.
        ValueError: for a top-level image whose name does not start with a TCGA barcode.
    """
    patch_dir = Path(patch_dir)
    if not patch_dir.is_dir():
        raise FileNotFoundError(f"histology patch folder not found: {patch_dir}")
    extensions = tuple(e.lower() for e in extensions)
    patches: dict[str, list[str]] = {}
    for entry in sorted(patch_dir.iterdir()):
        if entry.is_dir():
            files = sorted(str(p) for p in entry.iterdir() if p.is_file() and p.suffix.lower() in extensions)
            if files:
                patches.setdefault(entry.name, []).extend(files)
        elif entry.suffix.lower() in extensions:
            match = _TCGA_CASE.match(entry.name)
            if match is None:
                raise ValueError(
                    f"{entry}: cannot tell its case; put patches in per-case folders or start file names "
                    "with the TCGA case barcode (TCGA-XX-XXXX)."
                )
            patches.setdefault(match.group(1), []).append(str(entry))
    return {case: sorted(files) for case, files in sorted(patches.items())}


def align_case_ids(
    reference: tuple[str, Sequence[str]],
    tables: Mapping[str, Iterable[str]],
    required: Collection[str] = (),
    on_mismatch: str = "raise",
) -> list[str]:
    """Check that the case ids of several tables agree with a reference table (usually the labels).

    A case of any table missing from the reference is an *extra* case; a reference case missing from a
    table listed in ``required`` is a *missing* case (a reference case absent from a table not required
    just lacks that modality).

    Args:
        reference: ``(name, case ids)`` of the reference table.
        tables: name -> case ids of the other tables.
        required: names of the tables that must list every reference case.
        on_mismatch: ``"raise"`` (CaseMismatchError naming the ids and tables) or ``"drop"`` (ignore extra
            cases, drop reference cases missing from a required table; with a warning).

    Returns:
        The reference case ids kept, in reference order.

    Raises:
        CaseMismatchError: with ``on_mismatch="raise"`` when any table disagrees.
        ValueError: a bad ``on_mismatch``, a ``required`` name not in ``tables`` or duplicated reference ids.
    """
    if on_mismatch not in ("raise", "drop"):
        raise ValueError(f"on_mismatch must be 'raise' or 'drop', got {on_mismatch!r}.")
    unknown_required = [r for r in required if r not in tables]
    if unknown_required:
        raise ValueError(f"required table(s) {unknown_required} not among {list(tables)}.")
    ref_name, ref_ids = reference
    ref_ids = [str(i) for i in ref_ids]
    ref_set = set(ref_ids)
    if len(ref_set) != len(ref_ids):
        raise ValueError(f"{ref_name}: duplicated case ids.")
    problems, dropped = [], set()
    for name, ids in tables.items():
        ids = {str(i) for i in ids}
        extra = ids - ref_set
        if extra:
            problems.append(f"{len(extra)} case id(s) in {name} but not in {ref_name}: {_preview(extra)}")
        if name in required:
            missing = ref_set - ids
            if missing:
                problems.append(f"{len(missing)} case id(s) in {ref_name} but not in {name}: {_preview(missing)}")
                dropped |= missing
    if problems:
        if on_mismatch == "raise":
            raise CaseMismatchError("; ".join(problems) + ". Pass on_mismatch='drop' to keep the common cases.")
        warnings.warn("; ".join(problems) + ". Extra cases ignored, missing cases dropped.", stacklevel=2)
    return [i for i in ref_ids if i not in dropped]
