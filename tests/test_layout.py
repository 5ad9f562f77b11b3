# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The package layout rules: generic subpackages never import domain code (``monai_dianet.apps``), the
subpackages import each other without cycles, and every Python file carries the license header."""

from __future__ import annotations

import ast
import importlib
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "monai_dianet"
#: subpackages that must stay domain-free
GENERIC = ("networks", "losses", "transforms", "inferers", "metrics", "engines", "handlers", "visualize", "data",
           "utils", "bundle", "rl", "estimators")
HEADER = "# Copyright (c) monai-dianet contributors\n# Licensed under the Apache License, Version 2.0\n"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str | None = None) -> set[str]:
    """Absolute names of the ``monai_dianet`` modules that ``path`` (module ``module``, by default the name of its
    place in the repository) imports, at any depth (lazy imports too)."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {n for n in found if n == "monai_dianet" or n.startswith("monai_dianet.")}


def _subpackage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else None


def _graph() -> dict[str, dict[str, str]]:
    """subpackage -> {imported subpackage: an importing module (for the message)}."""
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _subpackage(_module_name(path))
        if source is None:
            continue
        for name in _imports(path):
            target = _subpackage(name)
            if target is not None and target != source:
                graph.setdefault(source, {}).setdefault(target, _module_name(path))
    return graph


def test_generic_subpackages_never_import_apps():
    offenders = sorted(
        f"{_module_name(path)} imports {name}"
        for sub in GENERIC
        for path in (PACKAGE / sub).rglob("*.py")
        for name in _imports(path)
        if name == "monai_dianet.apps" or name.startswith("monai_dianet.apps.")
    )
    assert not offenders, offenders


def test_no_import_cycle_between_subpackages():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
                links = [f"{a} -> {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
                pytest.fail("import cycle between subpackages: " + "; ".join(links))
            if state.get(nxt) is None:
                visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [])


def test_import_analysis_sees_lazy_and_relative_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n\n\ndef f():\n    from ..apps.brats import data\n    import monai_dianet.utils\n")
    assert _imports(probe, "monai_dianet.transforms.probe") == {
        "monai_dianet.apps.brats", "monai_dianet.apps.brats.data", "monai_dianet.utils"
    }


@pytest.mark.parametrize("folder", ["monai_dianet", "tests", "benchmarks", "bundles", "scripts"])
def test_license_header(folder):
    missing = sorted(
        str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*.py") if not p.read_text().startswith(HEADER)
    )
    assert not missing, f"files without the license header: {missing}"


def test_papers_cited_by_title_not_by_seed_number():
    pattern = re.compile(r"\bseed (paper )?00[03]\b|\bseed paper\b|00[03]_[0-9a-f]{16}", re.IGNORECASE)
    files = []
    for folder, dirs, names in os.walk(REPO):  # prune hidden folders (.git, .venv) and run outputs
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("data", "models", "eval", "__pycache__")]
        files += [Path(folder, n) for n in names if n.endswith((".py", ".md", ".json"))]
    offenders = sorted(f"{p.relative_to(REPO)}:{i}" for p in files
                       for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if pattern.search(line))
    assert not offenders, offenders


def _expand(name: str) -> list[str]:
    """``pkg.{a,b}_x`` -> ``[pkg.a_x, pkg.b_x]``."""
    match = re.search(r"\{([^}]*)\}", name)
    if not match:
        return [name]
    return [n for part in match.group(1).split(",") for n in _expand(name[: match.start()] + part + name[match.end():])]


def _resolve(name: str) -> None:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return
    raise ModuleNotFoundError(name)


@pytest.mark.parametrize("doc", ["README.md", "bundles/dianet_brats_segmentation/docs/README.md",
                                 "bundles/onconet_tcga_classification/docs/README.md"])
def test_documented_names_are_importable(doc):
    """Every ``monai_dianet...`` name the README and bundle docs write in backquotes exists where they say."""
    names = set(re.findall(r"`(monai_dianet(?:\.[A-Za-z_{}, ]+)+)`", (REPO / doc).read_text()))
    missing = []
    for name in sorted(names):
        for full in _expand(name.replace(" ", "")):
            try:
                _resolve(full)
            except (ImportError, AttributeError) as err:
                missing.append(f"{full} ({err})")
    assert names and not missing, missing
