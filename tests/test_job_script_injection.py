"""Job scripts are written from validated values only (issue 27 item 4).

A newline in a config's output or in --queue became a shell command of the generated SLURM script,
and ``name: ".."`` wrote a point's file above the output folder. Now every path, name, queue and
option that reaches a script is refused in one line if it holds a control character (any code below
0x20, and DEL), before any file is written; ``name`` may not be empty, ``.``, ``..`` or hold a path
separator; printable values that mean something to a shell (quotes, ``$(...)``, backticks, ``;``,
``#``, ``%``) are quoted so that neither bash nor sbatch's ``#SBATCH`` parser reads them as anything
but the value. Nothing here anneals: ``sweep --backend slurm --dry-run`` only prepares files.
"""
import copy
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from cli_helpers import BASE, relusim_here, write_config
from relusim.execution import cluster
from relusim import config
from relusim.errors import InputError
from relusim.execution.sweep import Task

SWEEP = ["--grid", "seed=1,2", "--backend", "slurm", "--dry-run"]


def conf(tmp_path, **top) -> str:
    c = copy.deepcopy(BASE)
    c.update(samples=1, output=str(tmp_path / "o.h5"))
    c.update(top)
    return write_config(tmp_path / "c.yaml", c)


def files(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


ATTEMPTS = [  # (id, extra argv, config changes, the key the one line names)
    ("output-newline", [], {"output": "{d}/a\ntouch {d}/PWNED\n/o.h5"}, "output"),
    ("output-cr", [], {"output": "{d}/a\rb/o.h5"}, "output"),
    ("output-escape", [], {"output": "{d}/a\x1b[2J/o.h5"}, "output"),
    ("name-newline", [], {"name": "t\ntouch PWNED"}, "name"),
    ("name-tab", [], {"name": "t\tu"}, "name"),
    ("name-del", [], {"name": "t\x7f"}, "name"),
    ("name-dotdot", [], {"name": ".."}, "name"),
    ("name-dot", [], {"name": "."}, "name"),
    ("name-empty", [], {"name": ""}, "name"),
    ("name-slash", [], {"name": "../../etc"}, "name"),
    ("name-backslash", [], {"name": "a\\b"}, "name"),
    ("queue-newline", ["--queue", "gpu\ntouch PWNED"], {}, "--queue"),
    ("queue-tab", ["--queue", "gpu\tx"], {}, "--queue"),
    ("queue-nul-like", ["--queue", "gpu\x01"], {}, "--queue"),
    ("setup-newline", ["--setup", "module load python\ntouch PWNED"], {}, "--setup"),
    ("setup-cr", ["--setup", "module load python\rtouch PWNED"], {}, "--setup"),
    ("walltime-newline", ["--walltime", "01:00:00\ntouch PWNED"], {}, "--walltime"),
    ("memory-newline", ["--memory", "4G\ntouch PWNED"], {}, "--memory"),
    ("out-dir-newline", ["--out-dir", "{d}/x\ntouch PWNED"], {}, "--out-dir"),
]


@pytest.mark.parametrize("name, argv, changes, key", ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_an_injection_attempt_is_one_line_and_writes_nothing(tmp_path, name, argv, changes, key):
    fill = {k: v.replace("{d}", str(tmp_path)) for k, v in changes.items()}
    cfg = conf(tmp_path, **fill)
    before = files(tmp_path)
    code, out, err = relusim_here("sweep", "--config", cfg, *SWEEP, *[a.replace("{d}", str(tmp_path)) for a in argv],
                                  cwd=tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"relusim: error: {key}: "), err
    assert files(tmp_path) == before
    assert not list(tmp_path.parent.rglob("PWNED"))


def test_a_working_directory_with_a_newline_is_refused(tmp_path):
    cfg = conf(tmp_path)
    cwd = tmp_path / "w\ntouch PWNED"
    cwd.mkdir()
    code, _, err = relusim_here("sweep", "--config", cfg, *SWEEP, cwd=cwd)
    assert code == 2 and "working directory" in err and len(err.strip().splitlines()) == 1, err
    assert files(tmp_path) == {"c.yaml", cwd.name}


@pytest.mark.parametrize("argv", [["--backend", "dask", "--slurm", "--queue", "q\ntouch PWNED"],
                                  ["--backend", "dask", "--slurm", "--setup", "a\nb"]])
def test_dask_jobqueue_options_are_checked_too(tmp_path, argv):
    code, _, err = relusim_here("sweep", "--config", conf(tmp_path), "--grid", "seed=1,2", *argv, cwd=tmp_path)
    assert code == 2 and "control characters" in err and len(err.strip().splitlines()) == 1, err
    assert files(tmp_path) == {"c.yaml"}


def test_capacity_slurm_queue_is_checked(tmp_path):
    code, _, err = relusim_here("capacity", "--config", conf(tmp_path), "--N", "8", "--backend", "slurm",
                                "--queue", "q\ntouch PWNED", cwd=tmp_path)
    assert code == 2 and err.startswith("relusim: error: --queue:") and len(err.strip().splitlines()) == 1, err
    assert files(tmp_path) == {"c.yaml"}


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\nb", "a\x00b", "x" * 201])
def test_name_rules_live_in_the_config(tmp_path, name):
    with pytest.raises(InputError) as info:
        config.from_dict(dict(copy.deepcopy(BASE), name=name, output=str(tmp_path / "o.h5")))
    assert info.value.key == "name" and "\n" not in str(info.value)


@pytest.mark.parametrize("output", ["a\nb.h5", "a\tb.h5", "a\x7fb.h5", "a\x1bb.h5"])
def test_output_rules_live_in_the_config(tmp_path, output):
    with pytest.raises(InputError) as info:
        config.from_dict(dict(copy.deepcopy(BASE), output=str(tmp_path / output)))
    assert info.value.key == "output" and "control characters" in str(info.value)


# ------------------------------------------------ printable values that mean something to a shell --

HOSTILE = "q'$(touch PWNED)`touch PWNED`;touch PWNED #%A"


def sbatch_values(script: str) -> dict[str, str]:
    """The #SBATCH options as sbatch reads them: its parser splits and unquotes as a POSIX shell."""
    out = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH "):
            (word,) = shlex.split(line[len("#SBATCH "):])
            key, _, value = word.partition("=")
            out[key] = value
    return out


def test_hostile_printable_values_stay_values(tmp_path):
    """Quotes, $(...), backticks, ';' and '#' in the output folder, the name and --queue: the script
    parses (bash -n), runs without executing any of them, and hands every value through intact."""
    folder = tmp_path / "r'$(touch PWNED)`touch PWNED`;#%j"
    folder.mkdir()
    cfg = config.from_dict(dict(copy.deepcopy(BASE), samples=1, name="n'$(touch PWNED);#",
                                output=str(folder / "o.h5")))
    opts = cluster.SlurmOptions(queue=HOSTILE, walltime="00:05:00", python="/bin/echo",
                                setup=("export RELUSIM_TEST=1",))
    job = cluster.write_array([Task(cfg, 0)], folder / "job", opts, name=f"relusim-{cfg.name}")
    text = job.script.read_text()
    assert subprocess.run(["bash", "-n", str(job.script)]).returncode == 0
    values = sbatch_values(text)
    assert values["--partition"] == HOSTILE and values["--job-name"] == "relusim-" + cfg.name
    assert values["--output"] == str(folder / "job" / "logs").replace("%", "%%") + "/%A_%a.out"
    assert values["--chdir"] == os.getcwd()
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="0", HOME=str(tmp_path))
    p = subprocess.run(["bash", str(job.script)], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"-m relusim run-task --tasks {job.table} --task-id 0 --workers 1"  # /bin/echo
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


def test_slurm_options_refuse_control_characters_when_built():
    for kw, key in [({"queue": "a\nb"}, "--queue"), ({"walltime": "1\n"}, "--walltime"),
                    ({"setup": ("ok", "a\rb")}, "--setup")]:
        with pytest.raises(InputError) as info:
            cluster.SlurmOptions(**kw)
        assert info.value.key == key
    with pytest.raises(InputError, match="python"):
        cluster.SlurmOptions(python="/usr/bin/py\nthon").check()
