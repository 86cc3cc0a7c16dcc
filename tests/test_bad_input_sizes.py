"""Sizes that could exhaust memory are refused before anything is allocated or written, in one line
naming the option (issue 27 item 7): ``capacity --samples 1000000000`` and ``robustness --flips``
with 2 * 10^9 points were MemoryError tracebacks, ``capacity --workers 1000000000`` started a process per
instance, a sweep of four 100-value axes ran for hours, the theory grids allocated 16 GB.

Nothing here anneals or computes an instance: every case is refused while the command line is read
(the robustness memory case reads the config of a result file that holds no sample yet).
"""
import copy
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from cli_helpers import BASE, relusim, relusim_here, write_config
from relusim.capacity import grid
from relusim import config
from relusim.storage import results
from relusim.execution import sweep
from relusim.cli.analysis import parse_spec
from relusim.errors import InputError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sizes")
    c = copy.deepcopy(BASE)
    c.update(samples=1, output=str(d / "run.h5"))
    write_config(d / "c.yaml", c)
    cfg = config.from_dict(c)
    rf = results.ResultsFile(cfg.output)
    rf.prepare(cfg, "test")  # a result file with no sample: enough for the checks made before measuring
    rf.release()
    return d


N_LIST = ",".join(str(4 * i) for i in range(1, 21))
CASES = [  # (id, argv, the option the one line names, words)
    ("capacity-samples-1e9", ["capacity", "--config", "{c}", "--N", "8", "--samples", "1000000000"], "--samples",
     "<= 1000000"),
    ("capacity-grid-memory", ["capacity", "--config", "{c}", "--N", N_LIST, "--alpha", "0.01:2:0.0005",
                              "--samples", "1000000"], "--samples", "available"),
    ("capacity-alpha-count", ["capacity", "--config", "{c}", "--N", "8", "--alpha", "0.0001:1:0.0001"], "--alpha",
     "at most 4000"),
    ("capacity-alpha-list", ["capacity", "--config", "{c}", "--N", "8", "--alpha", ",".join(["0.5"] * 4001)],
     "--alpha", "at most 4000"),
    ("capacity-N-count", ["capacity", "--config", "{c}", "--N", ",".join(str(4 * i) for i in range(1, 1100)),
                          "--method", "anneal"], "--N", "at most 1000"),
    ("capacity-bootstrap", ["capacity", "--config", "{c}", "--N", "8", "--bootstrap", "1000000000000"], "--bootstrap",
     "<= 100000"),
    ("capacity-max-nodes", ["capacity", "--config", "{c}", "--N", "8", "--max-nodes", str(10**30)], "--max-nodes",
     "2^63"),
    ("capacity-workers", ["capacity", "--config", "{c}", "--N", "8", "--samples", "1000", "--workers", "1000000000"],
     "--workers", "processes at once"),
    ("robustness-flips", ["robustness", "{d}/run.h5", "--flips", "0:0.5:1e-10", "--quiet"], "--flips",
     "at most 10000"),
    ("robustness-noise", ["robustness", "{d}/run.h5", "--weight-noise", "0:0.2:1e-10", "--quiet"],
     "--weight-noise", "at most 10000"),
    ("robustness-trials", ["robustness", "{d}/run.h5", "--trials", "1000000000000", "--quiet"], "--trials",
     "<= 1000000"),
    ("robustness-memory", ["robustness", "{d}/run.h5", "--trials", "1000000", "--weight-noise", "0.00002:0.2:0.00002",
                           "--quiet"], "--trials", "measurement needs about"),
    ("sweep-points", ["sweep", "--config", "{c}", "--grid", "seed=" + ",".join(map(str, range(1, 102))),
                      "--grid", "anneal.sweeps=" + ",".join(map(str, range(10, 110))), "--backend", "slurm",
                      "--dry-run"], "--grid", "gives 10100 points; at most 10000"),
    ("sweep-cores", ["sweep", "--config", "{c}", "--grid", "seed=1,2", "--backend", "slurm", "--dry-run",
                     "--cores", "1000000000"], "--cores", "<= 4096"),
    ("theory-fp-d", ["theory", "franz-parisi", "--d", "0.01:0.4:1e-10"], "--d", "at most 100000"),
    ("theory-le-d", ["theory", "local-entropy", "--d", "0.01:0.4:1e-10"], "--d", "at most 100000"),
    ("theory-stab-x", ["theory", "stabilities", "--x", "0:3:1e-10"], "--x", "at most 100000"),
    ("theory-stab-K", ["theory", "stabilities", "--K", str(10**18)], "--K", "lattice bins"),
    ("theory-stab-K-x", ["theory", "stabilities", "--K", "4", "--x", "0,1e12"], "--K", "lattice bins"),
    ("theory-fc-alpha", ["theory", "fc-correlation", "--alpha", "0.1:1:1e-10"], "--alpha", "at most 100000"),
]


@pytest.fixture(scope="module")
def outcomes(files):
    """The first case of each command as a real process, the others in this process (the same entry
    point, ``cli_helpers.relusim_here``): an interpreter start costs ten times a refusal."""
    jobs = {name: [a.replace("{c}", str(files / "c.yaml")).replace("{d}", str(files)) for a in argv]
            for name, argv, _, _ in CASES}
    first = {}
    for name, argv in jobs.items():
        first.setdefault(argv[0], name)
    before = sorted(os.listdir(files))
    with ThreadPoolExecutor(max_workers=2) as pool:
        spawned = {name: pool.submit(relusim, *jobs[name], cwd=files, timeout=120) for name in first.values()}
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(files)
            mp.setenv("CI", "true")
            res = {name: relusim_here(*argv) for name, argv in jobs.items() if name not in spawned}
        res.update({name: job.result() for name, job in spawned.items()})
    return res, before, sorted(os.listdir(files))


@pytest.mark.parametrize("name, key, words", [(c[0], c[2], c[3]) for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.slow
def test_a_size_no_machine_holds_is_one_line_naming_the_option(outcomes, name, key, words):
    res, before, after = outcomes
    code, _, err = res[name]
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"relusim: error: {key}: "), err
    assert words in lines[0], lines[0]
    assert after == before, "a refused command wrote a file"


def test_parse_spec_refuses_before_allocating():
    with pytest.raises(InputError, match="at most 10000"):
        parse_spec("--flips", "0:1:1e-15")  # 10^15 + 1 points, counted, never listed
    assert len(parse_spec("--flips", "0:0.5:0.01")) == 51


def test_a_sweep_counts_its_points_before_building_them(tmp_path):
    base = config.from_dict(dict(copy.deepcopy(BASE), output=str(tmp_path / "t.h5")))
    axes = [("seed", tuple(range(1, 1001))), ("anneal.sweeps", tuple(range(10, 1010))),
            ("anneal.record_every", tuple(range(1, 1001)))]  # 10^9 points: refused at once
    with pytest.raises(InputError, match="gives 1000000000 points; at most 10000"):
        sweep.expand(base, axes, tmp_path)


def test_capacity_plans_count_without_listing(tmp_path):
    base = config.from_dict(dict(copy.deepcopy(BASE), output=str(tmp_path / "t.h5")))
    plan = grid.make_plan(base, "exact", "0.5:1.0:0.25", "8,12", "4", 3)
    assert grid.count_instances(plan) == len(plan.instances())
    with pytest.raises(InputError, match="--samples"):
        grid.make_plan(base, "anneal", "0.01:2:0.0005", N_LIST, "4", 1_000_000)
