import os
import subprocess
import sys

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


def relusim_here(*args):
    """The command line run in this process (``relusim.cli.main``, output captured): (returncode,
    stdout, stderr). For commands that refuse before they compute, where starting an interpreter
    would cost more than the command; its exceptions end in the same one line as in a subprocess."""
    import contextlib
    import io

    from relusim import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()
