import os
import signal
import subprocess
import sys
import time

import yaml

BASE = {
    "name": "t", "seed": 3, "samples": 3,
    "model": {"activation": "relu", "weights": "binary", "N": 40, "K": 4, "alpha": 0.3},
    "anneal": {"sampler": "metropolis", "beta": {"start": 1.0, "stop": 8.0, "schedule": "geometric"},
               "sweeps": 400, "record_every": 20},
}


def write_config(path, cfg: dict) -> str:
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return str(path)


def relusim(*args, timeout=300, **kw):
    """Run the real command line in a subprocess: (returncode, stdout, stderr)."""
    env = dict(os.environ, CI="true")
    p = subprocess.run([sys.executable, "-m", "relusim", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=env, **kw)
    return p.returncode, p.stdout, p.stderr


def relusim_here(*args, cwd=None):
    """The command line run in this process (``relusim.cli.main.main``, output captured): (returncode,
    stdout, stderr). Its exceptions end in the same one line as in a subprocess. For every check of
    output, exit status and files: an interpreter start (Python, NumPy, numba, the cached kernels)
    costs more than a small run, and the kernels stay loaded for the next case. A pool
    (``--workers 2``) still starts real worker processes. Not for what needs a process of its own:
    signals, kills, a full disk (the command line leaves with ``os._exit``), a fresh interpreter.
    ``cwd``: the working directory while it runs (restored after)."""
    import contextlib
    import io

    from relusim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main.main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def kill_after_first_shard(args, parts, settle: float) -> None:
    """Start the command line ``relusim *args``, wait (at most 120 s) until a finished shard is in the
    folder ``parts``, let it run ``settle`` seconds more, then SIGKILL it. Fails if the run ended
    before it could be killed (make it longer)."""
    proc = subprocess.Popen([sys.executable, "-m", "relusim", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.isdir(parts) and any(p.endswith(".h5") and not p.startswith(".") for p in os.listdir(parts)):
            break
        time.sleep(0.01)
    time.sleep(settle)
    assert proc.poll() is None, "the run ended before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
