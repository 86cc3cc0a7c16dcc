"""The memory a run will need, estimated before it starts, against what this machine has.

One sample (``relusim.anneal.run_sample``) holds, with Pp = P rounded up to 64 and S = sweeps +
extra_sweeps (the per-sweep trace), the arrays below; ``workers`` samples run at once, each in a
process that costs about ``PROCESS_BYTES`` by itself (Python, NumPy, numba's compiled kernels).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..config import Config
from ..errors import InputError

PROCESS_BYTES = 150 * 2**20  # measured: a worker with numba and the kernels loaded, ~120-150 MB RSS


def _padded(P: int) -> int:
    return -(-P // 64) * 64


def sample_bytes(cfg: Config) -> int:
    """Bytes of the arrays one sample allocates (kernels, trace, measurement, writing)."""
    m, e, a = cfg.model, cfg.ensemble, cfg.anneal
    N, K, P = m.N, m.K, m.P
    y = e.replicas * a.tempering.rungs  # tempering: one machine per rung, each with its own arrays
    nw = getattr(m, "weights_count", N)  # weights per network: N (tree) or K N (fully connected)
    Pp, S = _padded(P), a.sweeps + a.extra_sweeps
    words = Pp // 64
    table = {
        "instance xi (P, N) int8, with the generator's temporaries": 3 * P * N,
        "XT (N, Pp) int8 and sig (Pp,) int16": N * Pp + 2 * Pp,
        "fields H (y, K, Pp) int16 and margins (y, Pp) int16": 2 * y * K * Pp + 2 * y * Pp,
        "bitsets XB (N, Pp/64), UD (y, K, 4, Pp/64), M (y, 4, Pp/64) uint64":
            8 * words * (N + 4 * y * K + 4 * y + 1),
        "weights w (y, Nw), reference and sums (Nw,)": y * nw + 3 * nw,
        "RRR scratch (y, Nw) int64, p and block sums": 8 * y * nw + 16 * (y + 1) * nw + 4 * P,
        "schedule betas, gammas (S,) float64 and their ramps": 4 * 8 * S,
        "trace energies (S, y) int64, accepted (S,) int64, qbar (S,), rrr (S,) bool": 8 * S * y + 17 * S,
        "measurement: fields as int64 (P, N), outputs, stabilities (y, P) float64":
            8 * P * N + 16 * K * P + 8 * y * P + 8 * P,
        "writing: patterns copy and compression buffers": 2 * P * N,
    }
    return int(sum(table.values()))


def available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo, or the cgroup's limit if smaller; None when unknown."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(f).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            avail = min(avail, int(text)) if avail else int(text)
    if avail is None and hasattr(os, "sysconf"):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            pass
    return avail


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1024 or unit == "EB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EB"


def check_memory(cfgs: Sequence[Config], workers: int = 1, key: str | None = None,
                 workers_key: str = "--workers") -> None:
    """Refuse (one InputError line) a run whose samples, ``workers`` at a time, cannot fit in memory.

    ``workers_key``: how the caller's user spelt the number of workers (``workers`` from Python)."""
    avail = available_bytes()
    if avail is None or not cfgs:
        return
    biggest = max(cfgs, key=sample_bytes)
    one = sample_bytes(biggest)
    total_samples = sum(c.samples for c in cfgs)
    at_once = max(1, min(workers, total_samples))
    need = at_once * (one + (PROCESS_BYTES if at_once > 1 else 0))
    if need <= avail:
        return
    what = f"P = {biggest.model.P} patterns, N = {biggest.model.N}, y = {biggest.ensemble.replicas}, " \
           f"{biggest.anneal.sweeps + biggest.anneal.extra_sweeps} sweeps traced"
    if one > avail:
        a = biggest.anneal
        trace = (8 * biggest.ensemble.replicas + 49) * (a.sweeps + a.extra_sweeps)
        k = key or ("model.alpha" if trace < one / 2 else
                    "anneal.sweeps" if a.sweeps >= a.extra_sweeps else "anneal.extra_sweeps")
        value = {"model.alpha": biggest.model.alpha, "anneal.sweeps": a.sweeps,
                 "anneal.extra_sweeps": a.extra_sweeps}[k]
        raise InputError(k, value, f"a sample needs about {_size(one)} of memory ({what}); this machine has "
                         f"{_size(avail)} available")
    fits = max(1, int(avail // (one + PROCESS_BYTES)))
    use = f"{workers_key} {fits}" if workers_key.startswith("--") else f"{workers_key}={fits}"
    raise InputError(workers_key, workers, f"{at_once} samples at once need about {_size(need)} of memory "
                     f"({_size(one)} each); this machine has {_size(avail)} available: use {use}")
