"""Where the test suite's CPU goes: a pytest plugin that logs every test's CPU, and a summary.

    PYTHONPATH=scripts CPUPROF=suite_cpu.jsonl python -m pytest -p pytest_cpuprof
    python scripts/pytest_cpuprof.py suite_cpu.jsonl        # per file: self, children, compiling

Per test (one JSON line): CPU of the test's process (``getrusage`` self, user + system), of the
processes it started and waited for (``getrusage`` children), and the part of the first spent in
numba compiling (numba's ``numba:compile`` events, outermost only, so nested compiles count once).
With pytest-xdist each worker appends its own lines.
"""
from __future__ import annotations

import collections
import json
import os
import resource
import sys
import time

_compile = [0.0]
_depth = []


def _cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def pytest_configure(config):
    from numba.core import event

    class Listener(event.Listener):
        def on_start(self, ev):
            _depth.append(time.process_time())

        def on_end(self, ev):
            t0 = _depth.pop()
            if not _depth:
                _compile[0] += time.process_time() - t0

    event.register("numba:compile", Listener())
    config._cpuprof = open(os.environ.get("CPUPROF", "suite_cpu.jsonl"), "a")


def pytest_runtest_protocol(item, nextitem):
    s, c, k = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), _compile[0]
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    from _pytest.runner import runtestprotocol

    runtestprotocol(item, nextitem=nextitem)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    fh = item.config._cpuprof
    fh.write(json.dumps({"id": item.nodeid, "self": _cpu(resource.RUSAGE_SELF) - s,
                         "children": _cpu(resource.RUSAGE_CHILDREN) - c, "compile": _compile[0] - k}) + "\n")
    fh.flush()
    return True


def summary(path: str, top: int = 25) -> str:
    files = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for line in open(path):
        r = json.loads(line)
        f = files[r["id"].split("::")[0]]
        f[0] += r["self"]
        f[1] += r["children"]
        f[2] += r["compile"]
        f[3] += 1
    tot = [sum(f[i] for f in files.values()) for i in range(4)]
    out = [f"{tot[3]} tests: {tot[0] + tot[1]:.0f} s of CPU, {tot[0]:.0f} s in the test processes "
           f"({tot[2]:.0f} s compiling), {tot[1]:.0f} s in processes they started",
           "| file | CPU (s) | of which started processes | of which compiling | tests |", "|---|---|---|---|---|"]
    for name, f in sorted(files.items(), key=lambda x: -(x[1][0] + x[1][1]))[:top]:
        out.append(f"| {name} | {f[0] + f[1]:.1f} | {f[1]:.1f} | {f[2]:.1f} | {f[3]} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(summary(sys.argv[1]))
