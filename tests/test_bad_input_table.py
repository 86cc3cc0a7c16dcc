"""Bad input of every kind, to every command: exit 2, one line on stderr, no traceback, nothing written.

The first case of each command runs as a subprocess of the real command line (what a user's shell
sees: the exit status and stderr of a process); the others run the same entry point in this process
(``cli_helpers.relusim_here``), where an interpreter start would cost ten times the command. Then
each case is checked on its own. Each case runs in its own folder (its outputs point there); shared inputs sit in ``shared``,
and the whole tree is compared before and after: a case that creates or changes any file fails.
"""
import copy
import hashlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from cli_helpers import BASE, relusim, relusim_here, write_config

GOOD = copy.deepcopy(BASE)
GOOD["anneal"].update(sweeps=200, record_every=20)


def conf(**changes):
    """A config dict: BASE with ``a__b=value`` changes (value None deletes)."""
    c = copy.deepcopy(GOOD)
    for key, value in changes.items():
        node = c
        *parents, last = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return c


# (id, command words, what goes in the case's files). ``C`` is written as the case's config
# c.yaml (output in the case folder unless the case sets one), ``T`` as raw text to c.yaml,
# ``B`` as raw bytes. In argv, "{c}" is the config, "{d}" the case folder, "{s}" the shared folder.
CASES = [
    # --- schedules written as bare numbers are checked as the mapping form
    ("beta-nan", ["validate", "--config", "{c}"], {"C": conf(anneal__beta=float("nan"))}),
    ("beta-neg", ["validate", "--config", "{c}"], {"C": conf(anneal__beta=-1)}),
    ("beta-zero", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(anneal__beta=0)}),
    ("beta-inf", ["validate", "--config", "{c}"], {"C": conf(anneal__beta=float("inf"))}),
    ("beta-word", ["validate", "--config", "{c}"], {"C": conf(anneal__beta="hot")}),
    ("beta-list", ["validate", "--config", "{c}"], {"C": conf(anneal__beta=[1, 2])}),
    ("gamma-neg", ["anneal", "--config", "{c}", "--quiet"],
     {"C": conf(ensemble={"replicas": 3, "gamma": -1})}),
    ("gamma-nan-start", ["validate", "--config", "{c}"],
     {"C": conf(ensemble={"replicas": 3, "gamma": {"start": float("nan"), "stop": 1.0}})}),
    ("beta-start-only-neg", ["validate", "--config", "{c}"], {"C": conf(anneal__beta={"start": -2.0})}),
    # --- sections of the wrong type
    ("ensemble-list", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(ensemble=[])}),
    ("model-number", ["validate", "--config", "{c}"], {"C": conf(model=3)}),
    ("anneal-string", ["validate", "--config", "{c}"], {"C": conf(anneal="fast")}),
    ("top-list", ["validate", "--config", "{c}"], {"T": "- 1\n- 2\n"}),
    ("empty-file", ["validate", "--config", "{c}"], {"T": ""}),
    # --- duplicate keys
    ("dup-top", ["anneal", "--config", "{c}", "--quiet"], {"T": "seed: 1\nsamples: 2\nseed: 2\noutput: {d}/o.h5\n"}),
    ("dup-nested", ["validate", "--config", "{c}"],
     {"T": "model:\n  N: 40\n  K: 4\n  N: 44\noutput: {d}/o.h5\n"}),
    # --- types and ranges
    ("seed-2^64", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(seed=2**64)}),
    ("seed-huge", ["validate", "--config", "{c}"], {"C": conf(seed=10**30)}),
    ("seed-neg", ["validate", "--config", "{c}"], {"C": conf(seed=-1)}),
    ("seed-float", ["validate", "--config", "{c}"], {"C": conf(seed=1.5)}),
    ("samples-too-many", ["validate", "--config", "{c}"], {"C": conf(samples=2_000_000)}),
    ("sweeps-float", ["validate", "--config", "{c}"], {"T": "anneal:\n  sweeps: 1e3\noutput: {d}/o.h5\n"}),
    ("N-string", ["validate", "--config", "{c}"], {"C": conf(model__N="40")}),
    ("stop-int", ["validate", "--config", "{c}"], {"C": conf(anneal__stop_when_solved=1)}),
    ("alpha-word", ["validate", "--config", "{c}"], {"T": "model:\n  alpha: 3e-1x\noutput: {d}/o.h5\n"}),
    ("alpha-1e308", ["validate", "--config", "{c}"], {"T": "model:\n  alpha: 1e308\noutput: {d}/o.h5\n"}),
    ("target-nan", ["validate", "--config", "{c}"],
     {"C": conf(ensemble={"replicas": 3, "target_overlap": float("nan")})}),
    ("record-0", ["validate", "--config", "{c}"], {"C": conf(anneal__record_every=0)}),
    ("tolerance-inf", ["validate", "--config", "{c}"],
     {"C": conf(ensemble={"replicas": 3, "overlap_tolerance": float("inf")})}),
    ("solved-when-some", ["anneal", "--config", "{c}", "--quiet"],
     {"C": conf(ensemble={"replicas": 3, "solved_when": "some"})}),
    # --- sizes no machine holds: refused before anything runs
    ("alpha-1e9", ["anneal", "--config", "{c}", "--quiet"], {"T": "model:\n  alpha: 1e9\noutput: {d}/o.h5\n"}),
    ("alpha-1e9-validate", ["validate", "--config", "{c}"], {"T": "model:\n  alpha: 1e9\noutput: {d}/o.h5\n"}),
    ("sweeps-1e12", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(anneal__sweeps=10**12)}),
    ("extra-1e13", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(anneal__extra_sweeps=10**13)}),
    # --- files that are not configs
    ("config-h5", ["anneal", "--config", "{s}/run.h5", "--quiet"], {}),
    ("config-latin1", ["validate", "--config", "{c}"], {"B": "name: caf\u00e9\n".encode("latin-1")}),
    ("config-nul", ["validate", "--config", "{c}"], {"B": b"name: a\x00b\n"}),
    ("config-dir", ["validate", "--config", "{s}"], {}),
    ("config-dev", ["validate", "--config", "/dev/zero"], {}),
    ("config-missing", ["anneal", "--config", "{d}/nope.yaml"], {}),
    # --- output paths of anneal (config and --out)
    ("out-proc", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(output="/proc/relusim.h5")}),
    ("out-under-file", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(output="{s}/afile/o.h5")}),
    ("out-is-dir", ["anneal", "--config", "{c}", "--quiet"], {"C": conf(output="{s}/adir.h5")}),
    ("out-read-only", ["anneal", "--config", "{c}", "--quiet", "--out", "{s}/readonly.h5"], {"C": conf()}),
    ("out-ext", ["anneal", "--config", "{c}", "--quiet", "--out", "{d}/o.txt"], {"C": conf()}),
    ("out-flag-proc", ["anneal", "--config", "{c}", "--quiet", "--out", "/proc/self/o.h5"], {"C": conf()}),
    # --- CLI overrides are checked as the config's keys
    ("samples-0", ["anneal", "--config", "{c}", "--quiet", "--samples", "0"], {"C": conf()}),
    ("samples-neg", ["anneal", "--config", "{c}", "--quiet", "--samples", "-3"], {"C": conf()}),
    ("samples-word", ["anneal", "--config", "{c}", "--quiet", "--samples", "many"], {"C": conf()}),
    ("workers-0", ["anneal", "--config", "{c}", "--quiet", "--workers", "0"], {"C": conf()}),
    ("workers-memory", ["anneal", "--config", "{c}", "--quiet", "--workers", "100000", "--samples", "100000"],
     {"C": conf()}),
    # --- sweep
    ("grid-beta-nan", ["sweep", "--config", "{c}", "--grid", "anneal.beta=.nan", "--out-dir", "{d}/sw"],
     {"C": conf()}),
    ("grid-beta-neg", ["sweep", "--config", "{c}", "--grid", "anneal.beta=1,-1", "--out-dir", "{d}/sw"],
     {"C": conf()}),
    ("grid-alpha-word", ["sweep", "--config", "{c}", "--grid", "model.alpha=3e-1,abc", "--out-dir", "{d}/sw"],
     {"C": conf()}),
    ("grid-seed-2^64", ["sweep", "--config", "{c}", "--grid", f"seed=1,{2**64}", "--out-dir", "{d}/sw"],
     {"C": conf()}),
    ("grid-section", ["sweep", "--config", "{c}", "--grid", "ensemble=1", "--out-dir", "{d}/sw"], {"C": conf()}),
    ("grid-sweeps-1e12", ["sweep", "--config", "{c}", "--grid", "anneal.sweeps=100,1000000000000",
                          "--out-dir", "{d}/sw"], {"C": conf()}),
    ("sweep-outdir-file", ["sweep", "--config", "{c}", "--grid", "seed=1,2", "--out-dir", "{s}/afile"],
     {"C": conf()}),
    ("sweep-outdir-proc", ["sweep", "--config", "{c}", "--grid", "seed=1,2", "--out-dir", "/proc/sw"],
     {"C": conf()}),
    ("sweep-samples-0", ["sweep", "--config", "{c}", "--grid", "seed=1,2", "--samples", "0", "--out-dir", "{d}/sw"],
     {"C": conf()}),
    ("sweep-config-h5", ["sweep", "--config", "{s}/run.h5", "--grid", "seed=1,2"], {}),
    # --- merge and run-task
    ("merge-missing", ["merge", "{d}/none.h5"], {}),
    ("merge-empty-dir", ["merge", "{s}/adir.h5"], {}),
    ("merge-not-hdf5", ["merge", "{s}/text.h5"], {}),
    ("run-task-binary", ["run-task", "--tasks", "{s}/run.h5", "--task-id", "0"], {}),
    ("run-task-missing", ["run-task", "--tasks", "{d}/none.json", "--task-id", "0"], {}),
    # --- info
    ("info-missing", ["info", "{d}/none.h5"], {}),
    ("info-text", ["info", "{s}/text.h5"], {}),
    ("info-dir", ["info", "{s}"], {}),
    ("info-yaml", ["info", "{s}/good.yaml"], {}),
    # --- robustness: every path checked before any work
    ("rob-plot-ext", ["robustness", "{s}/run.h5", "--plot", "{d}/r.xyz", "--quiet"], {}),
    ("rob-plot-noext", ["robustness", "{s}/run.h5", "--plot", "{d}/r", "--quiet"], {}),
    ("rob-plot-under-file", ["robustness", "{s}/run.h5", "--plot", "{s}/afile/r.png", "--quiet"], {}),
    ("rob-plot-dir", ["robustness", "{s}/run.h5", "--plot", "{s}/adir.h5", "--quiet"], {}),
    ("rob-plot-proc", ["robustness", "{s}/run.h5", "--plot", "/proc/r.png", "--quiet"], {}),
    ("rob-read-only", ["robustness", "{s}/readonly.h5", "--plot", "{d}/r.png", "--quiet"], {}),
    ("rob-flips", ["robustness", "{s}/run.h5", "--flips", "0:2:1", "--quiet"], {}),
    ("rob-trials", ["robustness", "{s}/run.h5", "--trials", "0", "--quiet"], {}),
    ("rob-missing", ["robustness", "{d}/none.h5", "--quiet"], {}),
    ("rob-not-hdf5", ["robustness", "{s}/text.h5", "--plot", "{d}/r.png", "--quiet"], {}),
    # --- compare
    ("cmp-json-under-file", ["compare", "{s}/run.h5", "--json", "{s}/afile/t.json"], {}),
    ("cmp-json-dir", ["compare", "{s}/run.h5", "--json", "{s}/adir.h5"], {}),
    ("cmp-plot-ext", ["compare", "{s}/run.h5", "--plot", "{d}/c.doc"], {}),
    ("cmp-plot-proc", ["compare", "{s}/run.h5", "--plot", "/proc/c.png"], {}),
    ("cmp-text", ["compare", "{s}/text.h5"], {}),
    # --- theory
    ("th-fp-above", ["theory", "franz-parisi", "--activation", "sign", "--alpha", "5", "--d", "0.005"], {}),
    ("th-stab-above", ["theory", "stabilities", "--activation", "relu", "--alpha", "4", "--y", "1"], {}),
    ("th-plot-ext", ["theory", "capacity", "--activation", "sign", "--weights", "binary", "--plot", "{d}/c.xyz"], {}),
    ("th-csv-proc", ["theory", "capacity", "--activation", "sign", "--weights", "binary", "--csv", "/proc/c.csv"],
     {}),
    ("th-json-dir", ["theory", "capacity", "--activation", "sign", "--weights", "binary", "--json", "{s}/adir.h5"],
     {}),
    ("th-csv-under-file", ["theory", "capacity", "--activation", "sign", "--weights", "binary", "--csv",
                           "{s}/afile/c.csv"], {}),
    ("th-d-range", ["theory", "local-entropy", "--d", "0.7"], {}),
]


def _fill(x, d, s):
    if isinstance(x, str):
        return x.replace("{d}", str(d)).replace("{s}", str(s))
    if isinstance(x, dict):
        return {k: _fill(v, d, s) for k, v in x.items()}
    if isinstance(x, list):
        return [_fill(v, d, s) for v in x]
    return x


def _tree(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.join(dirpath, name)] = "dir"
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns, hashlib.sha256(Path(p).read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    s = root / "shared"
    s.mkdir()
    write_config(s / "good.yaml", dict(GOOD, output=str(s / "run.h5"), samples=2))
    code, _, err = relusim("anneal", "--config", s / "good.yaml", "--workers", 1, "--quiet")
    assert code == 0, err
    shutil.copy(s / "run.h5", s / "readonly.h5")
    os.chmod(s / "readonly.h5", 0o444)
    (s / "afile").write_text("a file, not a folder")
    (s / "adir.h5").mkdir()
    (s / "text.h5").write_text("not an HDF5 file\n")
    jobs = {}
    for name, argv, files in CASES:
        d = root / name
        d.mkdir()
        if "C" in files:
            c = dict(_fill(files["C"], d, s))
            c.setdefault("output", str(d / "o.h5"))
            write_config(d / "c.yaml", c)
        elif "T" in files:
            (d / "c.yaml").write_text(_fill(files["T"], d, s))
        elif "B" in files:
            (d / "c.yaml").write_bytes(files["B"])
        jobs[name] = [a.replace("{c}", str(d / "c.yaml")) for a in _fill(argv, d, s)]
    first = {}
    for name, argv in jobs.items():
        first.setdefault(argv[0] if argv[0] != "theory" else "theory " + argv[1], name)
    before = _tree(root)
    with ThreadPoolExecutor(max_workers=2) as pool:
        spawned = {name: pool.submit(relusim, *jobs[name], cwd=str(root)) for name in first.values()}
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            mp.setenv("CI", "true")
            results = {name: relusim_here(*argv) for name, argv in jobs.items() if name not in spawned}
        results.update({name: job.result() for name, job in spawned.items()})
    after = _tree(root)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    return root, results, changed


@pytest.mark.parametrize("name", [c[0] for c in CASES])
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_and_writes_nothing(outcomes, name):
    root, results, changed = outcomes
    code, out, err = results[name]
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("relusim: error: "), err
    mine = sorted(p for p in changed if p.startswith(str(root / name) + os.sep) or
                  p.startswith(str(root / "shared") + os.sep))
    assert not mine, f"files created or changed: {mine}"


def test_the_table_covers_every_command():
    """Every command has cases, and its first case runs as a real process."""
    counts = {}
    for _, argv, _ in CASES:
        counts[argv[0]] = counts.get(argv[0], 0) + 1
    assert len(CASES) >= 60
    assert set(counts) >= {"anneal", "validate", "info", "robustness", "compare", "sweep", "merge", "theory",
                           "run-task"}


def test_yaml_1_2_floats_and_the_bare_number_form_mean_what_a_user_means(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"model:\n  alpha: 3e-1\nanneal:\n  beta: 2\noutput: {tmp_path}/o.h5\n")
    code, out, err = relusim("validate", "--config", path)
    assert code == 0, err
    cfg = yaml.safe_load(out)
    assert cfg["model"]["alpha"] == 0.3
    assert cfg["anneal"]["beta"] == {"start": 2.0, "stop": 2.0, "schedule": "constant"}
    assert not (tmp_path / "o.h5").exists()
