# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Treatment-environment patients from a TCGA-format (GDC) cohort: clinical and genomic profile -> ODE parameters.

Each case of a GDC ``clinical.tsv`` (with optional STAR gene-count files) becomes a
:class:`~monai_dianet.rl.envs.PatientProfile` of the chemo-immunotherapy model of de Pillis, Gu & Radunskaya
(2006). The mapping below is a documented modelling assumption of this package (no published study fits these
ODE parameters to TCGA profiles); it makes the simulated patients differ the way their profiles suggest:

- **stage** (``ajcc_pathologic_stage``, else ``ajcc_clinical_stage``; I-IV) sets the initial tumour burden
  ``T0 = 10^(7 + 0.4 (stage - 1))`` cells (1e7 for stage I to 1.6e8 for stage IV);
- a **proliferation score** (mean standardised log-TPM of the proliferation genes :data:`PROLIFERATION_GENES`)
  ``z_p`` scales the tumour growth rate ``a`` by ``exp(0.15 z_p)``;
- a **cytotoxic immune score** (:data:`CYTOTOXIC_GENES`, after the cytolytic-activity idea of Rooney et al.,
  Cell 2015) ``z_c`` places the patient between the paper's immune-responsive patient 9 and patient 10: the
  patient-specific parameters are interpolated in log space with weight ``w = 1 / (1 + exp(1.5 z_c))``;
- **age** lowers the lymphocyte production ``alpha`` by 1 % per year above 60 (immunosenescence);
- **prior therapy** (``treatment_or_therapy`` "yes" or ``prior_treatment`` "Yes") lowers the chemotherapy
  kill rate ``K_T`` by 20 % (acquired resistance);
- every parameter then gets a patient-specific log-normal factor (CV ``variation_cv``, seeded by the case id),
  the heterogeneity the profile does not explain.

Static features for the policy (standardised): stage, age, proliferation and cytotoxic scores, prior therapy,
and flags for a missing stage, age or RNA-seq profile (missing values are imputed with the cohort median and
flagged, never left NaN); optionally an embedding per case (e.g. OncoNet's fused patient embedding).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..tcga.gdc import read_gdc_clinical, read_gdc_gene_info, read_gdc_star_counts
from ...rl.dynamics import DE_PILLIS_2006_PATIENT_9, DE_PILLIS_2006_PATIENT_10
from ...rl.envs import PatientProfile
from ...utils.errors import InputError, MissingInputError

__all__ = ["PROLIFERATION_GENES", "CYTOTOXIC_GENES", "OncoStratCohort", "load_oncostrat_cohort", "parse_stage"]

PROLIFERATION_GENES: tuple[str, ...] = (
    "MKI67", "TOP2A", "CCNB1", "CDK1", "BUB1", "AURKA", "PLK1", "CCNA2", "CDC20", "FOXM1", "BIRC5", "MYBL2",
)
"""Cell-cycle genes of common proliferation signatures; the score uses those present in the expression table."""

CYTOTOXIC_GENES: tuple[str, ...] = ("CD8A", "GZMB", "PRF1", "CD3E")
"""Cytotoxic T-cell genes; the score uses those present in the expression table."""

FEATURE_NAMES: tuple[str, ...] = (
    "stage", "age", "proliferation_score", "cytotoxic_score", "prior_therapy", "stage_missing", "age_missing",
    "rna_missing",
)

_STAGE = re.compile(r"^\s*stage\s+(IV|III|II|I)(?![IV])", re.IGNORECASE)


def parse_stage(value) -> int | None:
    """``"Stage IIIA"`` -> 3; missing or unstaged (``"Stage X"``, ``"not reported"``, NaN) -> None."""
    if not isinstance(value, str):
        return None
    match = _STAGE.match(value)
    return {"I": 1, "II": 2, "III": 3, "IV": 4}[match.group(1).upper()] if match else None


@dataclass
class OncoStratCohort:
    """Patients of a cohort for the treatment environment.

    Attributes:
        profiles: one :class:`PatientProfile` per case, in clinical-table order.
        feature_names: names of the profile features (then ``embedding_<k>`` columns).
        table: per case: stage, age, scores, prior therapy, the derived initial tumour and parameters.
    """

    profiles: list[PatientProfile]
    feature_names: list[str]
    table: pd.DataFrame

    @property
    def case_ids(self) -> list[str]:
        return [p.patient_id for p in self.profiles]


def _says_yes(value) -> bool:
    """``"yes"`` among the ``"; "``-joined values GDC's clinical reader makes of repeated rows."""
    return isinstance(value, str) and "yes" in [v.strip().lower() for v in value.split(";")]


def _module_score(log_expr: pd.DataFrame, genes: Sequence[str]) -> pd.Series:
    present = [g for g in genes if g in log_expr.columns]
    if not present:
        return pd.Series(np.nan, index=log_expr.index)
    block = log_expr[present]
    z = (block - block.mean()) / block.std(ddof=0).replace(0, 1.0)
    return z.mean(axis=1)


def _standardise(values: pd.Series) -> pd.Series:
    sd = values.std(ddof=0)
    return (values - values.mean()) / (sd if sd > 0 else 1.0)


def _expression_by_symbol(root: Path, sample_sheet: str, rna_dir: str) -> pd.DataFrame:
    sheet = root / sample_sheet
    if not sheet.is_file():
        return pd.DataFrame()
    rna_root = root / rna_dir if (root / rna_dir).is_dir() else sheet.parent
    tpm = read_gdc_star_counts(sheet, rna_root, column="tpm_unstranded")
    names = read_gdc_gene_info(sheet, rna_root)["gene_name"]
    tpm.columns = [names.get(g, g) for g in tpm.columns]
    return np.log1p(tpm.T.groupby(level=0).mean().T)


def load_oncostrat_cohort(
    root: str | Path,
    clinical: str = "clinical.tsv",
    sample_sheet: str = "gdc_sample_sheet.tsv",
    rna_dir: str = "rna_seq",
    embeddings: Mapping[str, Sequence[float]] | pd.DataFrame | None = None,
    variation_cv: float = 0.1,
    seed: int = 0,
) -> OncoStratCohort:
    """Build treatment-environment patients from a GDC-format cohort folder (mapping in the module docstring).

    Args:
        root: cohort folder (a GDC download or :func:`monai_dianet.data.synthetic.generate_tcga` output).
        clinical: GDC clinical table, relative to ``root``; it defines the cohort.
        sample_sheet: GDC sample sheet of the STAR files, relative to ``root`` (absent: no RNA-seq scores).
        rna_dir: folder of the STAR downloads, relative to ``root``.
        embeddings: optional per-case embedding (``{case id: vector}`` or a DataFrame indexed by case id), e.g.
            OncoNet's fused embedding, appended (standardised) to the features; every case needs one.
        variation_cv: coefficient of variation of the unexplained patient-specific parameter factor.
        seed: seed of that factor (combined with each case id).

    Returns:
        :class:`OncoStratCohort`.

    Raises:
        MissingInputError: missing cohort folder or clinical table.
        InputError: an empty cohort, an embedding missing for a case, a non-finite embedding value, or
            embeddings of different lengths.

    Example::

        cohort = load_oncostrat_cohort("data/tcga")
        env = make_chemo_immunotherapy_env(patients=cohort.profiles)
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError(f"cohort folder {root} does not exist.")
    if not (root / clinical).is_file():
        raise MissingInputError(f"clinical table {root / clinical} does not exist; a GDC cohort needs clinical.tsv.")
    table = read_gdc_clinical(root / clinical)
    if table.empty:
        raise InputError(f"clinical table {root / clinical} lists no case.")
    ids = [str(c) for c in table.index]
    expr = _expression_by_symbol(root, sample_sheet, rna_dir)
    expr = expr.reindex([i for i in ids if i in expr.index])

    stage_col = next((c for c in ("ajcc_pathologic_stage", "ajcc_clinical_stage") if c in table.columns), None)
    stage = pd.Series([parse_stage(table.at[i, stage_col]) if stage_col else None for i in ids], index=ids, dtype=float)
    age = pd.to_numeric(table["age_at_index"], errors="coerce") if "age_at_index" in table.columns else None
    if age is None and "days_to_birth" in table.columns:
        age = -pd.to_numeric(table["days_to_birth"], errors="coerce") / 365.25
    age = pd.Series(age.values if age is not None else np.nan, index=ids, dtype=float)
    prior = pd.Series(False, index=ids)
    for col in ("treatment_or_therapy", "prior_treatment"):
        if col in table.columns:
            prior |= np.array([_says_yes(v) for v in table[col]])
    prolif = _module_score(expr, PROLIFERATION_GENES).reindex(ids)
    cyto = _module_score(expr, CYTOTOXIC_GENES).reindex(ids)

    info = pd.DataFrame({"stage": stage, "age": age, "proliferation_score": prolif, "cytotoxic_score": cyto,
                         "prior_therapy": prior.astype(float)}, index=ids)
    info["stage_missing"] = info["stage"].isna().astype(float)
    info["age_missing"] = info["age"].isna().astype(float)
    info["rna_missing"] = info["proliferation_score"].isna().astype(float)
    info["stage"] = info["stage"].fillna(info["stage"].median() if info["stage"].notna().any() else 2.0)
    info["age"] = info["age"].fillna(info["age"].median() if info["age"].notna().any() else 60.0)
    for col in ("proliferation_score", "cytotoxic_score"):
        info[col] = info[col].fillna(0.0)

    features = pd.DataFrame({
        "stage": (info["stage"] - 2.5) / 1.2,
        "age": _standardise(info["age"]),
        "proliferation_score": info["proliferation_score"],
        "cytotoxic_score": info["cytotoxic_score"],
        **{c: info[c] for c in ("prior_therapy", "stage_missing", "age_missing", "rna_missing")},
    }, index=ids)
    names = list(FEATURE_NAMES)
    if embeddings is not None:
        emb = embeddings if isinstance(embeddings, pd.DataFrame) else pd.DataFrame.from_dict(
            {k: list(v) for k, v in embeddings.items()}, orient="index")
        emb.index = emb.index.astype(str)
        missing = [i for i in ids if i not in emb.index]
        if missing:
            raise InputError(f"embeddings: no embedding for case(s) {missing[:5]} ({len(missing)} in all); every "
                             f"case of {root / clinical} needs one.")
        emb = emb.loc[ids].astype(float)
        if not np.all(np.isfinite(emb.values)):
            bad = emb.index[~np.isfinite(emb.values).all(axis=1)].tolist()
            raise InputError(f"embeddings: non-finite values for case(s) {bad[:5]}; expected finite numbers.")
        emb = emb.apply(_standardise)
        emb.columns = [f"embedding_{k}" for k in range(emb.shape[1])]
        features = pd.concat([features, emb], axis=1)
        names += list(emb.columns)

    p9, p10 = DE_PILLIS_2006_PATIENT_9, DE_PILLIS_2006_PATIENT_10
    sigma = math.sqrt(math.log1p(variation_cv**2))
    profiles, derived = [], []
    for cid in ids:
        row = info.loc[cid]
        w = 1.0 / (1.0 + math.exp(1.5 * row["cytotoxic_score"]))
        params = {k: p9[k] ** (1 - w) * p10[k] ** w for k in p9}
        params["a"] *= math.exp(0.15 * row["proliferation_score"])
        params["alpha"] *= math.exp(-0.01 * (row["age"] - 60.0))
        if row["prior_therapy"]:
            params["K_T"] *= 0.8
        rng = np.random.default_rng([int(seed), zlib.crc32(cid.encode())])
        for k in params:
            params[k] *= math.exp(sigma * rng.standard_normal() - 0.5 * sigma**2)
        tumour = 10 ** (7.0 + 0.4 * (row["stage"] - 1.0))
        description = {"stage": None if row["stage_missing"] else int(row["stage"]),
                       "age": None if row["age_missing"] else float(row["age"]),
                       "proliferation_score": float(row["proliferation_score"]),
                       "cytotoxic_score": float(row["cytotoxic_score"]), "prior_therapy": bool(row["prior_therapy"]),
                       "rna_seq": not row["rna_missing"], "immune_weight_patient10": w}
        profiles.append(PatientProfile(cid, params, initial_tumour=tumour, features=features.loc[cid].values,
                                       description=description))
        derived.append({"initial_tumour": tumour, "a": params["a"], "alpha": params["alpha"], "K_T": params["K_T"],
                        "immune_weight_patient10": w})
    return OncoStratCohort(profiles, names, pd.concat([info, pd.DataFrame(derived, index=ids)], axis=1))
