"""The package layout is the architecture: each room imports only the rooms below it (docs/ARCHITECTURE.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "relusim"

# bottom to top; a module may import its own room and the rooms below it, never above
LAYERS = [
    ("relusim", "relusim.errors", "relusim.ranges", "relusim.paths"),
    ("relusim.kernels",),
    ("relusim.theory",),
    ("relusim.models",),
    ("relusim.config", "relusim.protocol"),
    ("relusim.priors",),
    ("relusim.storage",),
    ("relusim.anneal", "relusim.tempering"),
    ("relusim.execution",),
    ("relusim.analysis", "relusim.capacity"),
    ("relusim.api", "relusim.cli", "relusim.__main__"),
]
# the one upward import, for load time: ``relusim.run`` imports the API on first use (PEP 562)
ALLOWED = {("relusim", "relusim.api")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> int:
    best, level = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, level = len(name), i
    assert level is not None, f"{module} is in no room of LAYERS"
    return level


def imports(path: Path) -> set[str]:
    """Every relusim module ``path`` imports, at module level or inside a function."""
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            if not src.startswith("relusim"):
                continue
            for a in node.names:
                sub = f"{src}.{a.name}"
                found.add(sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (ROOT.parent / sub.replace(".", "/") / "__init__.py").exists() else src)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("relusim")}
    return found


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_every_import_points_down_the_layers(path):
    mod = module_name(path)
    up = [dep for dep in imports(path) if room(dep) > room(mod) and (mod, dep) not in ALLOWED]
    assert not up, f"{mod} (room {room(mod)}) imports {up} from a room above it"


def test_the_numba_layer_imports_nothing_of_relusim_outside_it():
    for path in (ROOT / "kernels").glob("*.py"):
        outside = [d for d in imports(path) if not d.startswith("relusim.kernels")]
        assert not outside, f"{module_name(path)} imports {outside}"


def test_no_module_imports_a_cycle():
    graph = {module_name(p): {d for d in imports(p) if d != module_name(p) and (module_name(p), d) not in ALLOWED}
             for p in MODULES}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d in graph and not state.get(d):
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [m])


def test_the_top_level_holds_only_the_edge():
    top = sorted(p.stem for p in ROOT.glob("*.py"))
    assert top == ["__init__", "__main__", "anneal", "api", "config", "errors", "paths", "protocol", "ranges", "tempering"]
