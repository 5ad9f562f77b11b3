# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Overall-survival labels from GDC clinical.tsv (the generator's table, GDC row repetition, clear errors) and the
survival cohort joined with the other GDC tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monai_dianet.apps.tcga import CaseMismatchError, load_tcga_survival_cohort, read_gdc_survival
from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.utils.errors import InputError, MissingInputError

COLUMNS = ["case_id", "case_submitter_id", "project_id", "vital_status", "days_to_death", "days_to_last_follow_up"]


def _write(tmp_path, rows, columns=COLUMNS, name="clinical.tsv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=columns).to_csv(path, sep="\t", index=False)
    return path


def test_generated_cohort_outcomes(tmp_path):
    paths = generate_tcga(tmp_path, num=16, seed=0, num_genes=83, patch_size=16, patches_per_case=1,
                          missing_rate=0.2, progress=False)
    raw = pd.read_csv(paths["clinical"], sep="\t", dtype=str)
    outcome = read_gdc_survival(paths["clinical"])
    # cases whose clinical row is all '-- have no outcome and are dropped; the others keep their GDC values
    known = raw.drop_duplicates("case_submitter_id").set_index("case_submitter_id")
    known = known[known["vital_status"] != "'--"]
    assert list(outcome.index) == list(known.index) and outcome["event"].any()
    for case, row in known.iterrows():
        dead = row["vital_status"] == "Dead"
        assert outcome.loc[case, "event"] == dead
        assert outcome.loc[case, "time"] == float(row["days_to_death"] if dead else row["days_to_last_follow_up"])
    with pytest.raises(InputError, match="no usable outcome"):
        read_gdc_survival(paths["clinical"], on_missing="raise")


def test_gdc_rows_per_case_and_dotted_names(tmp_path):
    rows = [
        ["u1", "TCGA-A", "P", "Alive", "'--", "100"],
        ["u1", "TCGA-A", "P", "Alive", "'--", "250"],  # a later follow-up row: censored at the latest
        ["u2", "TCGA-B", "P", "Dead", "300", "'--"],
        ["u2", "TCGA-B", "P", "Alive", "'--", "120"],  # an older follow-up saying alive: the death counts
        ["u3", "TCGA-C", "P", "Not Reported", "'--", "80"],  # unknown status: no outcome
        ["u4", "TCGA-D", "P", "Dead", "'--", "'--"],  # dead without a time: no outcome
    ]
    dotted = ["cases.case_id", "cases.submitter_id", "project.project_id", "demographic.vital_status",
              "demographic.days_to_death", "follow_ups.days_to_follow_up"]
    dotted[-1] = "diagnoses.days_to_last_follow_up"
    outcome = read_gdc_survival(_write(tmp_path, rows, dotted))
    assert outcome.to_dict("index") == {"TCGA-A": {"time": 250.0, "event": False},
                                        "TCGA-B": {"time": 300.0, "event": True}}
    ordered = read_gdc_survival(_write(tmp_path, rows), case_ids=["TCGA-B", "TCGA-A"])
    assert list(ordered.index) == ["TCGA-B", "TCGA-A"]


@pytest.mark.parametrize(
    "rows, kwargs, match",
    [
        ([["u1", "A", "P", "Alive", "'--", "10"], ["u2", "B", "P", "Alive", "'--", "20"]], {},
         "every case is censored"),
        ([["u1", "A", "P", "Dead", "'--", "10"], ["u2", "B", "P", "Alive", "'--", "20"]], {},
         "'days_to_death' is missing"),
        ([["u1", "A", "P", "Dead", "-5", "'--"], ["u2", "B", "P", "Alive", "'--", "20"]], {}, "negative days"),
        ([["u1", "A", "P", "Dead", "soon", "'--"], ["u2", "B", "P", "Alive", "'--", "20"]], {}, "non-numeric"),
        ([["u1", "A", "P", "Dead", "5", "'--"], ["u2", "B", "P", "Alive", "'--", "20"]], {"case_ids": ["A", "Z"]},
         "do not join"),
    ],
)
def test_clear_errors(tmp_path, rows, kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        read_gdc_survival(_write(tmp_path, rows), **kwargs)
    assert "\n" not in str(info.value) and "clinical.tsv" in str(info.value)


def test_missing_file_and_column(tmp_path):
    with pytest.raises(MissingInputError, match="not found"):
        read_gdc_survival(tmp_path / "nope.tsv")
    path = _write(tmp_path, [["u1", "A", "P", "Dead", "5"]], COLUMNS[:-1])
    with pytest.raises(InputError, match="days_to_last_follow_up"):
        read_gdc_survival(path)
    assert np.isclose(read_gdc_survival(_write(tmp_path, [["u1", "A", "P", "Dead", "5", "'--"],
                                                          ["u2", "B", "P", "Alive", "'--", "9"]]))["time"].sum(), 14)


def test_survival_cohort_joins_the_gdc_tables(tmp_path):
    paths = generate_tcga(tmp_path, num=16, seed=1, num_genes=83, patch_size=16, patches_per_case=1,
                          missing_rate=0.2, progress=False)
    (tmp_path / "labels.tsv").unlink()  # survival needs no label table
    outcome = read_gdc_survival(paths["clinical"])
    cohort = load_tcga_survival_cohort(tmp_path, patches=None)
    # the cases with an outcome, labelled by their event (for stratified splits), no image modality
    assert cohort.case_ids == list(outcome.index) and cohort.patches == {}
    assert cohort.labels.tolist() == outcome["event"].astype(int).tolist()
    items = cohort.datalist()
    assert [(d["time"], d["event"]) for d in items] == list(zip(outcome["time"], outcome["event"]))
    assert not any(d["modality_mask"][0] for d in items)
    # prediction on new patients keeps every case of the clinical table, NaN time where the outcome is unknown
    every = load_tcga_survival_cohort(tmp_path, require_outcome=False)
    assert len(every.case_ids) == 16 and sum(np.isnan(d["time"]) for d in every.datalist()) == 16 - len(outcome)
    # a case of the sample sheet that is not in the clinical table: a clear one-line error
    sheet = pd.read_csv(paths["sample_sheet"], sep="\t", dtype=str)
    sheet.loc[0, "Case ID"] = "TCGA-XX-NONE"
    sheet.to_csv(paths["sample_sheet"], sep="\t", index=False)
    with pytest.raises(CaseMismatchError, match="TCGA-XX-NONE") as err:
        load_tcga_survival_cohort(tmp_path)
    assert isinstance(err.value, InputError) and "\n" not in str(err.value)


def test_survival_cohort_errors(tmp_path):
    with pytest.raises(MissingInputError, match="not found"):
        load_tcga_survival_cohort(tmp_path / "absent")
    generate_tcga(tmp_path, num=8, seed=2, num_genes=83, patch_size=16, patches_per_case=1, progress=False)
    clinical = tmp_path / "clinical.tsv"
    table = pd.read_csv(clinical, sep="\t", dtype=str, keep_default_na=False)
    table.loc[table["vital_status"] == "Dead", "vital_status"] = "Alive"
    table.to_csv(clinical, sep="\t", index=False)
    with pytest.raises(InputError, match="every case is censored"):
        load_tcga_survival_cohort(tmp_path)
    clinical.rename(tmp_path / "other.tsv")
    with pytest.raises(MissingInputError, match="no GDC clinical table"):
        load_tcga_survival_cohort(tmp_path)
