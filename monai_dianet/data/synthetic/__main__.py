# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Command line for the synthetic data generators.

Usage::

    python -m monai_dianet.data.synthetic brats --out data/brats --num 4 --seed 0 --shape 96 96 64 --layout 2021
    python -m monai_dianet.data.synthetic camelyon --out data/camelyon --num 2 --shape 8192
    python -m monai_dianet.data.synthetic tcga --out data/tcga --num 40

Bad arguments (unknown kind, non-positive count, negative seed, unwritable output folder, bad shape, an option
the kind does not take, too few TCGA cases) end with a one-line ``error:`` message after the usage line and exit
status 2, like any argparse error, and leave no output folder behind. Bad input found while generating ends with one
``error:`` line and status 1.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from monai_dianet.utils.errors import run_cli

KINDS = ("brats", "camelyon", "tcga")


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum`` (``what`` names it in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive integer")
_seed = _int_at_least(0, "non-negative integer")  # numpy seeds are non-negative


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m monai_dianet.data.synthetic``."""
    parser = argparse.ArgumentParser(
        prog="python -m monai_dianet.data.synthetic",
        description="Write synthetic data in the real on-disk formats: BraTS NIfTI cases, CAMELYON pyramidal "
        "TIFF slides with ASAP XML annotations, or a TCGA cohort of GDC files.",
    )
    parser.add_argument("kind", choices=KINDS, help="which dataset to generate")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument(
        "--num", type=_positive_int, default=None, help="number of cases/slides (default: brats 4, camelyon 2, tcga 40)"
    )
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0); equal seeds give equal data")
    parser.add_argument(
        "--shape",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="brats: volume X Y Z (default 96 96 64, BraTS itself 240 240 155); camelyon: level-0 side, or width "
        "height (multiples of 256, default 8192)",
    )
    parser.add_argument(
        "--layout", choices=("2021", "2023"), default=None, help="brats only: BraTS 2021 or 2023 layout (default 2021)"
    )
    return parser


def _writable_folder_error(out: Path) -> str | None:
    """Create ``out`` if needed and try writing in it; return a message saying why not, or None."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        return f"argument --out: cannot write to output folder {str(out)!r}: {e.strerror or e}"
    return None


def _generator_kwargs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """Validate the kind-specific options and turn them into keyword arguments of the generator."""
    kwargs: dict = {"seed": args.seed}
    if args.num is not None:
        kwargs["num"] = args.num
    if args.layout is not None and args.kind != "brats":
        parser.error(f"argument --layout: only the brats generator takes a layout, not {args.kind}")
    if args.kind == "brats":
        from monai_dianet.data.synthetic.brats import _check_layout, _check_shape

        kwargs["layout"] = _check_layout(args.layout or "2021")
        if args.shape is not None:
            try:
                kwargs["shape"] = _check_shape(args.shape)
            except ValueError as e:
                parser.error(f"argument --shape: {e}")
    elif args.kind == "camelyon":
        from monai_dianet.data.synthetic.camelyon import _check_size

        if args.shape is not None:
            size = args.shape[0] if len(args.shape) == 1 else tuple(args.shape)
            try:
                _check_size(size)
            except ValueError as e:
                parser.error(f"argument --shape: {e}")
            kwargs["size"] = size
    else:
        from monai_dianet.data.synthetic.tcga import _check_num

        if args.shape is not None:
            parser.error(f"argument --shape: the {args.kind} generator takes no shape")
        if args.num is not None:
            try:
                _check_num(args.num)
            except ValueError as e:
                parser.error(f"argument --num: {e}")
    return kwargs


def _size(paths: Sequence[str | os.PathLike]) -> int:
    """Total bytes of the given files and folders."""
    total = 0
    for path in map(Path, paths):
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total


def _summary(kind: str, out: Path, result: list | dict, kwargs: dict) -> str:
    """Human-readable account of what a generator wrote; ``kwargs`` are all its settings, defaults included."""
    lines = []
    if kind == "brats":
        from monai_dianet.data.synthetic.brats import BRATS_LAYOUTS

        spec = BRATS_LAYOUTS[kwargs["layout"]]
        shape = "x".join(str(s) for s in kwargs["shape"])
        files = [p for entry in result for p in (*entry["image"], entry["label"])]
        lines.append(
            f"Wrote {len(result)} BraTS {kwargs['layout']} cases ({shape} voxels, 1 mm; "
            f"{', '.join(spec['sequences'])} + seg; labels 0, 1, 2, {spec['enhancing']}) to {out}"
        )
        lines.append(f"  datalist: {out / 'dataset.json'}")
        for entry in result[:3]:
            lines.append(f"  {entry['case_id']}: {Path(entry['label']).parent}")
        if len(result) > 3:
            lines.append(f"  ... and {len(result) - 3} more")
        lines.append(f"  {len(files)} NIfTI files, {_size(files) / 1e6:.1f} MB")
    elif kind == "camelyon":
        import tifffile

        from monai_dianet.data.synthetic.camelyon import read_asap_polygons

        num_tumour = sum(entry["label"] == "tumor" for entry in result)
        with tifffile.TiffFile(result[0]["slide"]) as tif:
            levels = [page.shape[1::-1] for page in tif.pages]
        lines.append(
            f"Wrote {len(result)} CAMELYON-style slides ({num_tumour} tumor, {len(result) - num_tumour} normal; "
            f"{len(levels)} levels from {levels[0][0]}x{levels[0][1]} to {levels[-1][0]}x{levels[-1][1]}, "
            f"256-px JPEG tiles) to {out}"
        )
        lines.append(f"  labels: {out / 'labels.csv'}")
        for entry in result:
            note = "no annotation"
            if entry["annotation"]:
                note = f"{len(read_asap_polygons(entry['annotation']))} tumour polygon(s) in {entry['annotation']}"
            lines.append(f"  {Path(entry['slide']).name}: {entry['label']}, {note}")
        lines.append(f"  {_size([entry['slide'] for entry in result]) / 1e6:.1f} MB of slides")
    else:
        lines.append(f"Wrote a TCGA cohort ({kwargs['num']} cases) in GDC formats to {out}")
        for key, path in result.items():
            lines.append(f"  {key}: {path}")
        lines.append(f"  {_size([str(p) for p in result.values()]) / 1e6:.1f} MB")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse exits with 2 on bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    kwargs = _generator_kwargs(parser, args)
    created = not args.out.exists()
    message = _writable_folder_error(args.out)
    if message:
        parser.error(message)
    try:
        module = importlib.import_module(f"monai_dianet.data.synthetic.{args.kind}")
    except ImportError as e:
        parser.error(f"the {args.kind} generator cannot be imported ({e})")
    generate = getattr(module, f"generate_{args.kind}")
    parameters = inspect.signature(generate).parameters
    if "progress" in parameters:
        kwargs["progress"] = True
    out = args.out.resolve()
    try:
        result = generate(out, **kwargs)
    except BaseException:
        if created:  # leave nothing behind in a folder this command made
            shutil.rmtree(out, ignore_errors=True)
        raise
    settings = {k: p.default for k, p in parameters.items() if p.default is not inspect.Parameter.empty}
    print(_summary(args.kind, out, result, {**settings, **kwargs}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
