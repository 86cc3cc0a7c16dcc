"""docs/tutorial.md runs as written: its python cells, in order, in an empty folder, in one namespace.

Run as a script (``python tests/test_tutorial.py``) it also copies the figures it draws into docs/.
"""
import os
import re
import shutil
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUTORIAL = DOCS / "tutorial.md"
FIGURES = ("tutorial_stabilities.png", "tutorial_robustness.png", "tutorial_sweep.png")


def cells(text: str) -> list[str]:
    """The ```python fenced blocks of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def run_tutorial(folder: Path) -> dict:
    """Execute every cell in ``folder``; a failing cell names its number and first line."""
    here = os.getcwd()
    os.chdir(folder)
    ns: dict = {"__name__": "__tutorial__"}
    try:
        for k, code in enumerate(cells(TUTORIAL.read_text()), 1):
            try:
                exec(compile(code, f"{TUTORIAL.name}, cell {k}", "exec"), ns)
            except Exception as exc:
                raise AssertionError(f"cell {k} ({code.splitlines()[0]!r}) raised {exc!r}") from exc
    finally:
        os.chdir(here)
    return ns


def test_cells_are_found():
    assert len(cells(TUTORIAL.read_text())) >= 6
    assert cells("x\n```python\na = 1\n```\n```bash\nno\n```\n") == ["a = 1\n"]


def test_tutorial_runs_and_draws_its_figures(tmp_path):
    t0 = time.perf_counter()
    ns = run_tutorial(tmp_path)
    for name in FIGURES:
        assert (tmp_path / name).stat().st_size > 5000, name
    assert (tmp_path / "results" / "tutorial.h5").is_file()
    assert ns["table"]["solved"].all()  # the tutorial's numbers describe solutions
    assert len(ns["sw"].table["solved_fraction"]) == 3 and (tmp_path / ns["sw"].csv).is_file()
    assert time.perf_counter() - t0 < 120


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(DOCS.parent))
    with tempfile.TemporaryDirectory() as d:
        run_tutorial(Path(d))
        for name in FIGURES:
            shutil.copy(Path(d) / name, DOCS / name)
            print("wrote", DOCS / name)
