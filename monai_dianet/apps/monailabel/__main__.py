# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Command line tools for the MONAI Label app.

``python -m monai_dianet.apps.monailabel export-dicom --dataset_dir DATA --out DICOM``: every BraTS case under
DATA (2021 or 2023 layout) as four DICOM MR series of one study, one folder per sequence.

``python -m monai_dianet.apps.monailabel studies --dataset_dir DATA --out STUDIES [--labelled N]``: a MONAI Label
local datastore: one 4D NIfTI per case (sequences on the last axis, as in the Medical Segmentation Decathlon) and,
for the first N cases, the BraTS label map under ``labels/final``.

Without ``--dataset_dir`` a small generated BraTS dataset is used (``--num``, ``--shape``, ``--seed``).
Errors are printed as one line and the exit status is 1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path


def _cases(args: argparse.Namespace) -> list[dict]:
    from monai_dianet.apps.brats import find_brats_cases

    if args.dataset_dir:
        return find_brats_cases(args.dataset_dir, require_label=False)
    from monai_dianet.data.synthetic import generate_brats

    tmp = Path(tempfile.mkdtemp(prefix="brats_"))
    args._tmp = tmp
    return generate_brats(tmp, num=args.num, seed=args.seed, shape=tuple(args.shape))


def export_dicom(args: argparse.Namespace) -> None:
    from monai_dianet.apps.monailabel.dicom import StudyInfo, export_brats_case

    for case in _cases(args):
        out = Path(args.out) / case["case_id"]
        files = export_brats_case(case["image"], out, study=StudyInfo(patient_id=case["case_id"],
                                                                       patient_name=f"{case['case_id']}^"))
        print(f"{case['case_id']}: {', '.join(f'{k} ({len(v)} files)' for k, v in files.items())} -> {out}")


def studies(args: argparse.Namespace) -> None:
    from monai_dianet.apps.monailabel.studies import write_study_files

    out = Path(args.out)
    for n, case in enumerate(_cases(args)):
        labelled = n < args.labelled and case.get("label")
        write_study_files(case, out, labelled=bool(labelled))
        print(f"{case['case_id']}: {'labelled' if labelled else 'unlabelled'} -> {out / case['case_id']}.nii.gz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_dianet.apps.monailabel", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, helptext in (("export-dicom", export_dicom, "BraTS cases -> DICOM MR series (one study each)"),
                               ("studies", studies, "BraTS cases -> MONAI Label local datastore (4D NIfTI)")):
        p = sub.add_parser(name, help=helptext)
        p.set_defaults(fn=fn)
        p.add_argument("--dataset_dir", default="", help="BraTS dataset folder (default: generate one)")
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--num", type=int, default=4, help="generated cases")
        p.add_argument("--seed", type=int, default=0, help="generator seed")
        p.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48), help="generated volume shape")
        if name == "studies":
            p.add_argument("--labelled", type=int, default=0, help="cases whose label map is copied as final")
    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if getattr(args, "_tmp", None):
            shutil.rmtree(args._tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
