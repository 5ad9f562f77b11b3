# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The tutorial notebooks: each one runs top to bottom (nbclient, a fresh kernel on this checkout) in the CI size
(``MONAI_DIANET_TUTORIAL_QUICK=1`` unless set otherwise), shows at least one figure, downloads nothing and writes
nothing inside the repository; every notebook is stored without outputs and listed in ``tutorials/README.md``.

Run one notebook at full tutorial size::

    MONAI_DIANET_TUTORIAL_QUICK=0 python -m pytest tests/tutorials -k 01_dianet
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
QUICK_FLAG = "MONAI_DIANET_TUTORIAL_QUICK"
OUT_VAR = "MONAI_DIANET_TUTORIAL_OUT"
#: folders of the checkout that running a notebook may change (environments, caches, VCS data)
_UNWATCHED = {".git", ".venv", ".venv-monailabel", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (mtime_ns, size)}`` of every file in the checkout outside environments and caches."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _UNWATCHED and not d.startswith(".venv")]
        for name in names:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
            files[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return files


#: appended to the in-memory copy of each notebook: where monai_dianet came from and the kernel's CPU seconds
_REPORT_CELL = """import json, resource, monai_dianet
_usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
print(json.dumps({"file": monai_dianet.__file__, "cpu_s": sum(u.ru_utime + u.ru_stime for u in _usage)}))"""


def _kernel_env(out_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows the figures (run_tests.sh exports Agg)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault(QUICK_FLAG, "1")
    # one intra-op thread unless set: with two OpenMP threads on a loaded 2-core machine a notebook's training cell ran
    # past the 900 s cell timeout (threads spin at barriers waiting for a descheduled partner); with one it took 3 min
    env.setdefault("OMP_NUM_THREADS", "1")
    env[OUT_VAR] = str(out_dir)
    env.update(extra or {})
    return env


def execute_notebook(path: Path, work_dir: Path, extra_env: dict[str, str] | None = None):
    """Run ``path`` in a fresh kernel of this interpreter (cwd ``work_dir``, outputs under ``work_dir/out``).

    The kernel imports ``monai_dianet`` from this checkout and refuses network connections beyond loopback
    (:mod:`tests.tutorials.network_guard`). A last cell, added to the in-memory copy only, reports where
    ``monai_dianet`` came from and the kernel's CPU time. Returns ``(executed notebook, seconds, report)``, the
    report being ``{"file": monai_dianet's __init__.py, "cpu_s": CPU seconds of the kernel and its children}``.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_REPORT_CELL))
    out_dir = work_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(work_dir)}},
        extra_arguments=[
            "--IPKernelApp.exec_lines=import tests.tutorials.network_guard as _guard; _guard.install(); del _guard"
        ],
    )
    start = time.perf_counter()
    client.execute(env=_kernel_env(out_dir, extra_env))
    seconds = time.perf_counter() - start
    report = json.loads("".join(o.get("text", "") for o in nb.cells[-1].outputs).strip().splitlines()[-1])
    return nb, seconds, report


def _figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)


def test_tutorials_exist():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; run `nbstripout {path}`"
    assert "widgets" not in nb.metadata, f"{path.name}: widget state stored; run `nbstripout {path}`"


def test_tutorials_readme_lists_every_notebook():
    readme = (TUTORIALS / "README.md").read_text()
    missing = [p.name for p in NOTEBOOKS if f"]({p.name})" not in readme]
    assert not missing, f"tutorials/README.md does not link {missing}"
    assert "](tutorials/README.md)" in (ROOT / "README.md").read_text(), "README.md does not link tutorials/README.md"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    before = _snapshot(ROOT)
    nb, seconds, report = execute_notebook(path, tmp_path)
    print(f"{path.name}: {seconds:.1f} s wall, kernel CPU {report['cpu_s']:.1f} s "
          f"({QUICK_FLAG}={os.environ.get(QUICK_FLAG, '1')})")
    origin = Path(report["file"]).resolve()
    assert origin.is_relative_to(ROOT), f"the kernel imported monai_dianet from {origin}, not from {ROOT}"
    assert _figures(nb) >= 1, f"{path.name} shows no figure"
    after = _snapshot(ROOT)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, f"{path.name} wrote inside the repository: {changed[:10]}"


def test_kernel_refuses_downloads_and_uses_this_checkout(tmp_path):
    """The harness itself: a kernel started by execute_notebook imports this checkout and cannot reach outside
    loopback (a download fails in the cell that starts it), while loopback sockets still work."""
    from nbclient.exceptions import CellExecutionError

    local = (
        "import socket\nserver = socket.create_server(('127.0.0.1', 0))\n"
        "socket.create_connection(server.getsockname(), timeout=5).close()\nprint('loopback ok')"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(local)])
    nbformat.write(nb, tmp_path / "local.ipynb")
    executed, _, report = execute_notebook(tmp_path / "local.ipynb", tmp_path)
    assert "loopback ok" in executed.cells[0].outputs[0]["text"]
    assert Path(report["file"]).resolve().is_relative_to(ROOT)

    remote = "import urllib.request\nurllib.request.urlopen('http://192.0.2.1/weights.pt', timeout=5)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(remote)])
    nbformat.write(nb, tmp_path / "remote.ipynb")
    with pytest.raises(CellExecutionError, match="is blocked: tutorials must not download"):
        execute_notebook(tmp_path / "remote.ipynb", tmp_path)
