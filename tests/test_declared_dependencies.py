"""Every module that relusim, its tests and its scripts import is in the standard library or declared.

CI installs exactly what the README says into a fresh virtual environment (``.ci/run``), so an
undeclared import fails there; this test names it without a fresh environment, from the source:
every ``import x`` / ``from x import y`` (functions and ``try`` blocks included) is resolved to the
distribution that provides it (``importlib.metadata.packages_distributions``) and looked up in
``pyproject.toml``: the dependencies for ``relusim/`` (plus the ``dask`` extra, which the cluster
code imports only when asked for it), the dependencies and the ``test`` extra for ``tests/`` and
``scripts/``; ``pandas`` is an extra of its own (``Results.summary(frame=True)``).
"""
import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*extras: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    names = {_normal(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in reqs}
    if "dask" in names:  # dask[distributed] brings distributed
        names.add("distributed")
    return names


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _local(folder: Path) -> set[str]:
    """Modules a folder's files import from each other (tests import their helpers, scripts theirs)."""
    return {p.stem for p in folder.rglob("*.py")} | {p.name for p in folder.iterdir() if p.is_dir()}


def undeclared(folder: str, declared: set[str]) -> list[str]:
    dists = packages_distributions()
    local = _local(ROOT / folder) | {"relusim", "tests"}
    if folder == "scripts" and (ROOT / "tests").is_dir():  # scripts that reuse the tests' oracles
        local |= _local(ROOT / "tests")
    missing = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for mod in sorted(_imports(path)):
            if mod in sys.stdlib_module_names or mod in local or mod == "__future__":
                continue
            # not installed here: a distribution named as the module (an undeclared one fails either way)
            providers = {_normal(d) for d in dists.get(mod, [])} or {_normal(mod)}
            if not providers & declared:
                missing.append(f"{path.relative_to(ROOT)}: {mod} (provided by {', '.join(sorted(providers))})")
    return missing


@pytest.mark.parametrize("folder, extras", [("relusim", ("dask", "pandas")), ("tests", ("test",)), ("scripts", ("test",))])
def test_every_import_is_standard_or_declared(folder, extras):
    missing = undeclared(folder, _declared(*extras))
    assert not missing, "imports not declared in pyproject.toml:\n" + "\n".join(missing)


def test_the_walk_finds_an_undeclared_import(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("import os\nimport numpy\ndef f():\n    import mpmath\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = undeclared("pkg", {"numpy"})
    assert len(found) == 1 and "mpmath" in found[0]
