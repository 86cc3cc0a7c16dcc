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
