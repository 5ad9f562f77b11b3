# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the embedded-data preparation shared by the bundles (monai_dianet.data.prepare_embedded_data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monai_dianet.data import EMBEDDED_MARKER, prepare_embedded_data

REPO = Path(__file__).resolve().parents[2]


def _write(out: Path, num: int, value: str = "x") -> None:
    for i in range(num):
        (out / f"case{i}.txt").write_text(value)


def test_given_dataset_dir(tmp_path):
    assert prepare_embedded_data(str(tmp_path), tmp_path / "unused", _write, num=1) == str(tmp_path.resolve())
    assert not (tmp_path / "unused").exists()
    with pytest.raises(FileNotFoundError, match="missing"):
        prepare_embedded_data(tmp_path / "missing", tmp_path / "unused", _write, num=1)


def test_generated_once_then_reused_and_replaced_on_new_settings(tmp_path):
    calls = []

    def generate(out: Path, num: int) -> None:
        calls.append(num)
        _write(out, num)

    target = tmp_path / "data" / "embedded"
    root = prepare_embedded_data("", target, generate, num=3)
    assert root == str(target.resolve()) and sorted(p.name for p in target.iterdir()) == [
        "case0.txt", "case1.txt", "case2.txt", EMBEDDED_MARKER
    ]
    assert json.loads((target / EMBEDDED_MARKER).read_text()) == {"num": 3}
    assert prepare_embedded_data(None, target, generate, num=3) == root and calls == [3]
    prepare_embedded_data(None, target, generate, num=1)  # other settings: a fresh folder, no stale files
    assert calls == [3, 1] and sorted(p.name for p in target.iterdir()) == ["case0.txt", EMBEDDED_MARKER]
    assert sorted(p.name for p in target.parent.iterdir()) == ["embedded"]  # no temporary folders left


def test_failed_generation_leaves_nothing(tmp_path):
    def broken(out: Path, num: int) -> None:
        _write(out, num)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        prepare_embedded_data(None, tmp_path / "embedded", broken, num=2)
    assert list(tmp_path.iterdir()) == []


_RACE = """
import sys, time
from pathlib import Path
from monai_dianet.data import prepare_embedded_data

def generate(out, num):
    for i in range(num):
        (Path(out) / f"case{i}.txt").write_text(sys.argv[2])
        time.sleep(0.05)

print(prepare_embedded_data(None, sys.argv[1], generate, num=4))
"""


def test_processes_started_together_see_one_complete_folder(tmp_path):
    """Two processes without torch.distributed: each may generate, one rename wins, both return the same folder."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    target = tmp_path / "embedded"
    procs = [
        subprocess.Popen([sys.executable, "-c", _RACE, str(target), tag], env=env, stdout=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and outs == [str(target.resolve())] * 2
    values = {(target / f"case{i}.txt").read_text() for i in range(4)}
    assert len(values) == 1  # all files from one writer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embedded"]


_DIST = """
import os, sys
from pathlib import Path
import torch.distributed as dist
from monai_dianet.data import prepare_embedded_data

dist.init_process_group("gloo")
def generate(out, num):
    (Path(out) / f"rank{dist.get_rank()}.txt").write_text("x")
print(prepare_embedded_data(None, sys.argv[1], generate, num=1))
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_torchrun_rank0_generates(tmp_path):
    script = tmp_path / "prep.py"
    script.write_text(_DIST)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(script), str(tmp_path / "emb")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "emb").iterdir()) == [EMBEDDED_MARKER, "rank0.txt"]
