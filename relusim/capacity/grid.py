"""``relusim capacity``: the fraction of training sets a method solves, over (K, N, alpha), into one file.

The unit of work is one *instance*: K, N (inputs), P = round(alpha * weights) (half up, as
``ModelConfig.P``: alpha counts patterns per weight, weights = N for a tree and K N fully connected)
and an index i < samples. Its patterns come from ``SeedSequence(seed, spawn_key=(18, K, N, P, i, 0))``
(18: the capacity streams, apart from the anneal samples' ``(i, 0)``) and the anneal's moves from
``(18, K, N, P, i, 1)``: an instance's bits depend on the config seed and on what it is, never on
the worker, the backend or the order of the grid, so two alphas that give the same P are one
instance and a grid can be extended and resumed without rerunning what is done.

Two answers, never mixed in one file (the root attribute ``answer`` says which):

* ``exact``: does the instance have a solution at all? (``relusim.capacity.exact``, a complete search
  with a checked witness): the true SAT probability of finite N.
* ``anneal``: did the BASE config's anneal (schedule, sweeps, replicas) find a solution? (some
  replica at zero energy): the algorithmic threshold of that protocol, a lower bound on the capacity.

Resumable: every finished instance is one line of ``<out>.parts/instances.jsonl``, folded into the
HDF5 file every ``WRITE_EVERY_S`` seconds and at the end (``relusim.storage.capacity_file``: written
through a temporary file and sealed, a torn last line of the journal ignored on resume, and a group that fails
its seals dropped and its instances run again). ``--backend slurm`` runs the instances as a SLURM job
array instead, each task with a journal of its own (``relusim.capacity.array``); ``run`` folds those in
too.
"""
from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import yaml

from .. import anneal, ranges
from ..storage import results
from ..storage.capacity_file import CapacityFile, Record, load_records
from ..models import machine
from ..config import Config, drop_later_defaults
from ..errors import InputError, Interrupted, RunError
from ..execution.executors import Dask, Failure, Local
from ..priors import PRIORS, prior_of
from ..execution.runner import compile_kernels

TAG = 18
METHODS = ("exact", "anneal")
BACKENDS = ("local", "dask", "slurm")  # slurm: a job array (relusim.capacity.array)
RUNS_HERE = ("local", "dask")  # what ``run`` drives from this process
ANSWER = {
    "exact": "exact SAT probability (complete search)",
    "anneal": "algorithmic threshold of the BASE anneal protocol (a lower bound on the capacity)",
}
EXACT_MAX_N_PERCEPTRON = 64  # K = 1: branch and bound; the node budget is the real limit
EXACT_MAX_UNIT_INPUTS = 20  # K > 1: 2^(N/K) vectors per unit are enumerated
# K > 1 fully connected: 2^N vectors per unit are enumerated, then multisets of K of them are searched.
# Measured (sign K = 3, near the 50% point): N = 15 0.15 s an instance; N = 17 had not finished in 3e9 nodes
# (35 s), its 2^17 vectors too many for the dominance pruning. The worst case (no pruning) bounds the rest:
# K = 5 N = 9 (2^38) took 8e7 nodes, 2 s.
EXACT_MAX_FC_INPUTS = 16
EXACT_MAX_FC_LOG2_NODES = 45
WRITE_EVERY_S = 10.0
MAX_VALUES = 1000  # --N and --K: sizes of a finite-size scan, not a range of integers
MAX_ALPHAS = 4000  # the grid is a root attribute of the file: HDF5 holds attributes below 64 kB
MAX_BOOTSTRAP = 100_000  # refits per 50% point; the error bars settle long before
MAX_NODES = 2**63 - 1  # the search counts nodes in int64
INSTANCE_BYTES = 800  # one instance in memory: its record, its row of the grid and the file's arrays


# ------------------------------------------------------------------------------- parsing --


def parse_alpha(spec: str) -> tuple[float, ...]:
    """``start:stop:step`` or ``a,b,c`` (``relusim.ranges``), at most ``MAX_ALPHAS``; sorted without
    repeats, every alpha > 0."""
    values = ranges.parse("--alpha", spec, MAX_ALPHAS)
    if any(v <= 0 for v in values):
        raise InputError("--alpha", spec, "every alpha must be a finite number > 0")
    return tuple(sorted(set(map(float, values))))


def parse_ints(spec: str, key: str) -> tuple[int, ...]:
    """A comma list of positive integers (``99,199,399``), sorted without repeats."""
    try:
        values = [int(p) for p in str(spec).split(",")]
    except ValueError:
        raise InputError(key, spec, "expected a comma list of positive integers (e.g. 99,199,399)") from None
    if any(v < 1 for v in values):
        raise InputError(key, spec, "every value must be >= 1")
    if len(set(values)) > MAX_VALUES:
        raise InputError(key, spec, f"gives {len(set(values))} values; at most {MAX_VALUES}")
    return tuple(sorted(set(values)))


def default_alpha(activation: str, Ks: Sequence[int], weights: str = "binary", architecture: str = "tree") -> str:
    """The ``--alpha`` grid used when none is given: the prior's (``relusim.priors``, its ``DEFAULT_ALPHA``),
    by activation, K and architecture."""
    return PRIORS[weights].default_alpha(activation, Ks, architecture)


# ---------------------------------------------------------------------------------- plan --


@dataclass(frozen=True)
class Plan:
    """What a capacity run measures: the base config, the method and the grid of (K, N, alpha)."""

    base: Config
    method: str
    Ks: tuple[int, ...]
    Ns: tuple[int, ...]
    alphas: tuple[float, ...]
    samples: int
    max_nodes: int = 10**12

    @property
    def fully_connected(self) -> bool:
        return self.base.model.architecture == "fully_connected"

    @property
    def answer(self) -> str:
        """What a solved fraction of this plan measures (``ANSWER``)."""
        return ANSWER[self.method]

    def weights(self, K: int, N: int) -> int:
        """The weights of one network: N for a tree (K | N), K N fully connected (``ModelConfig.weights_count``)."""
        return K * N if self.fully_connected else N

    def Ps(self, N: int, K: int | None = None) -> tuple[int, ...]:
        """The distinct P = round(alpha * weights) of the grid at size (K, N) (P >= 1): alpha counts
        patterns per weight, as everywhere in relusim. A tree needs no K (its weights are N)."""
        if K is None:
            if self.fully_connected:
                raise ValueError("fully connected: P = round(alpha K N) needs K")
            K = 1
        W = self.weights(K, N)
        return tuple(sorted({max(1, int(math.floor(a * W + 0.5))) for a in self.alphas}))

    def points(self) -> list[tuple[int, int, int]]:
        return [(K, N, P) for K in self.Ks for N in self.Ns for P in self.Ps(N, K)]

    def instances(self) -> list[tuple[int, int, int, int]]:
        return [(K, N, P, i) for K, N, P in self.points() for i in range(self.samples)]

    def sha256(self) -> str:
        """Hash of what fixes an instance's answer: the config (but N, K, alpha, samples, output,
        name), the method and, for ``exact``, the node budget. The grid is not in it."""
        d = self.base.to_dict()
        for k in ("samples", "output", "name"):
            d.pop(k)
        for k in ("N", "K", "alpha"):
            d["model"].pop(k)
        drop_later_defaults(d)  # files made before those keys existed keep their hash
        if self.method == "exact":
            d = {"seed": d["seed"], "model": d["model"], "max_nodes": self.max_nodes}
        d["method"] = self.method
        return hashlib.sha256(yaml.safe_dump(d, sort_keys=True).encode()).hexdigest()

    def point_config(self, K: int, N: int, P: int) -> Config:
        return self.base.replace(**{"model.K": K, "model.N": N, "model.alpha": P / self.weights(K, N)})


def make_plan(base: Config, method: str, alpha: str | None, N: str, K: str | None, samples: int,
              max_nodes: int = 10**12) -> Plan:
    """Parse and check a capacity grid against the model's rules; InputError names the option.

    ``alpha`` None: ``default_alpha`` of the activation and the Ks."""
    if method not in METHODS:
        raise InputError("--method", method, f"allowed: {', '.join(METHODS)}")
    if method == "exact" and base.model.activation not in ("sign", "relu"):
        raise InputError("model.activation", base.model.activation, "--method exact takes sign or relu (its "
                         "search bounds integer unit outputs); use --method anneal")
    from ..config import MAX_SAMPLES

    if not 1 <= samples <= MAX_SAMPLES:
        raise InputError("--samples", samples, f"must be >= 1 and <= {MAX_SAMPLES}")
    if not 1 <= max_nodes <= MAX_NODES:
        raise InputError("--max-nodes", max_nodes, "must be >= 1 and < 2^63 (the search counts nodes in int64)")
    Ks = parse_ints(K, "--K") if K is not None else (base.model.K,)
    Ns = parse_ints(N, "--N")
    if method == "exact" and not prior_of(base).EXACT_SEARCH:
        raise InputError("--method", method, f"the complete search is for {' or '.join(exact_priors())} weights; "
                         f"{base.model.weights} weights: --method anneal")
    alphas = parse_alpha(default_alpha(base.model.activation, Ks, base.model.weights, base.model.architecture)
                         if alpha is None else alpha)
    plan = Plan(base, method, Ks, Ns, alphas, samples, max_nodes)
    check_size(plan)
    for k in Ks:
        for n in Ns:
            try:
                plan.point_config(k, n, plan.Ps(n, k)[0])
            except InputError as exc:
                key = {"model.K": "--K", "model.N": "--N"}.get(exc.key, exc.key)
                value = k if key == "--K" else n if key == "--N" else exc.value
                where = f"with K = {k}: " if key == "--N" else ""
                raise InputError(key, value, where + exc.allowed) from None
            if method == "exact":
                if k == 1 and n > EXACT_MAX_N_PERCEPTRON:
                    raise InputError("--N", n, f"--method exact with K = 1 reaches N <= {EXACT_MAX_N_PERCEPTRON}")
                if k > 1 and plan.fully_connected:
                    check_exact_fully_connected(k, n, base.model.activation)
                elif k > 1 and n // k > EXACT_MAX_UNIT_INPUTS:
                    raise InputError("--N", n, f"--method exact with K = {k} needs N/K <= "
                                     f"{EXACT_MAX_UNIT_INPUTS} (it enumerates 2^(N/K) vectors per unit)")
    return plan


def fc_exact_max_N(K: int, activation: str) -> int:
    """The largest N (inputs) ``--method exact`` takes for a fully connected K > 1 (``EXACT_MAX_FC_*``)."""
    from .exact import fc_worst_nodes

    n = 0
    while n < EXACT_MAX_FC_INPUTS and fc_worst_nodes(K, n + 1, activation) <= 2**EXACT_MAX_FC_LOG2_NODES:
        n += 1
    return n


def check_exact_fully_connected(K: int, N: int, activation: str) -> None:
    """Refuse a fully connected size whose complete search cannot finish (one InputError naming --N)."""
    top = fc_exact_max_N(K, activation)
    if N > top:
        raise InputError("--N", N, f"--method exact, fully connected with K = {K}, reaches N <= {top} inputs "
                         f"(it enumerates 2^N weight vectors per unit, N <= {EXACT_MAX_FC_INPUTS}, and searches "
                         f"multisets of K of them, at most 2^{EXACT_MAX_FC_LOG2_NODES} without pruning)")


def count_instances(plan: Plan) -> int:
    """The number of instances of ``plan``, without listing them."""
    return plan.samples * sum(len(plan.Ps(N, K)) for K in plan.Ks for N in plan.Ns)


def plan_bytes(plan: Plan) -> int:
    """Memory the run's bookkeeping needs: every instance's record and tuple, and the arrays the file
    is written from (status, work, energy, wall time and a witness of one byte per weight per instance)."""
    most = max(plan.weights(K, N) for K in plan.Ks for N in plan.Ns)
    return count_instances(plan) * (INSTANCE_BYTES + 2 * most)  # measured: ~500 B + N per record


def check_size(plan: Plan) -> None:
    """Refuse (one InputError naming the option that makes it big) a grid whose bookkeeping alone
    cannot fit in this machine's memory (``--samples 1000000000`` was a MemoryError traceback)."""
    from ..execution.resources import _size, available_bytes

    avail = available_bytes()
    need = plan_bytes(plan)
    if avail is None or need <= avail // 2:
        return
    n = count_instances(plan)
    per_sample = need // plan.samples
    fits = max(1, int(avail // 2 // per_sample))
    raise InputError("--samples", plan.samples, f"gives {n} instances ({len(plan.Ks)} K x {len(plan.Ns)} N x "
                     f"{n // plan.samples // (len(plan.Ks) * len(plan.Ns))} alpha on average x {plan.samples}), "
                     f"whose records alone need about {_size(need)}; this machine has {_size(avail)} available: "
                     f"use --samples {min(fits, plan.samples - 1)} or fewer, or a coarser --alpha")


# ----------------------------------------------------------------------------- instances --


def streams(seed: int, K: int, N: int, P: int, i: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The disorder and dynamics SeedSequences of one capacity instance."""
    return (np.random.SeedSequence(seed, spawn_key=(TAG, K, N, P, i, 0)),
            np.random.SeedSequence(seed, spawn_key=(TAG, K, N, P, i, 1)))


def make_instance(seed: int, K: int, N: int, P: int, i: int) -> tuple[np.ndarray, np.ndarray]:
    """i.i.d. uniform +-1 patterns (P, N) and labels (P,), int8, as ``relusim.models.instance.make``: N inputs
    in both architectures (a fully connected unit sees all of them)."""
    rng = np.random.Generator(np.random.PCG64(streams(seed, K, N, P, i)[0]))
    xi = (2 * rng.integers(0, 2, size=(P, N), dtype=np.int8) - 1).astype(np.int8)
    sigma = (2 * rng.integers(0, 2, size=P, dtype=np.int8) - 1).astype(np.int8)
    return xi, sigma


def solve_instance(plan: Plan, K: int, N: int, P: int, i: int) -> Record:
    """Answer one instance with the plan's method; a found solution is checked by ``relusim.models.machine``."""
    t0, c0 = time.perf_counter(), time.thread_time()
    seed, act, arch = plan.base.seed, plan.base.model.activation, plan.base.model.architecture
    xi, sigma = make_instance(seed, K, N, P, i)
    if plan.method == "exact":
        from .exact import SAT, solve

        res = solve(xi, sigma, act, K, plan.max_nodes, arch)
        return Record(K, N, P, i, res.status, res.nodes, 0 if res.status == SAT else -1,
                      time.perf_counter() - t0, res.weights, time.thread_time() - c0)
    cfg = plan.point_config(K, N, P)
    _, state, trace = anneal.anneal_instance(cfg, xi, sigma, streams(seed, K, N, P, i)[1], i)
    energies = np.array([machine.energy(w, xi, sigma, act, K, arch) for w in state.w], np.int64)
    if not np.array_equal(energies, state.E):
        raise RuntimeError(f"cached energies {state.E} != recomputed {energies}")
    best = int(np.argmin(energies))
    found = bool(energies[best] == 0)
    return Record(K, N, P, i, int(found), int(trace["sweep"][-1]), int(energies[best]),
                  time.perf_counter() - t0, prior_of(cfg).witness(state.w[best]) if found else None,
                  time.thread_time() - c0)


def exact_priors() -> list[str]:
    """The weight priors the complete search (``--method exact``) answers for."""
    return [name for name, prior in PRIORS.items() if prior.EXACT_SEARCH]


# ---------------------------------------------------------------------------------- file --


def file_attrs(plan: Plan, command: str) -> dict:
    """The root attributes of the plan's capacity file (``relusim.storage.capacity_file`` adds the
    bookkeeping and the seals): provenance as ``relusim anneal`` files, the method, the grid."""
    attrs = results.provenance(plan.base, command)
    attrs.pop("samples")
    attrs.update({
        "method": plan.method, "answer": ANSWER[plan.method], "activation": plan.base.model.activation,
        "weights": plan.base.model.weights, "architecture": plan.base.model.architecture,
        "alpha_counts": "patterns per weight: P = round(alpha N) tree, round(alpha K N) fully connected",
        "K": np.array(plan.Ks), "N": np.array(plan.Ns),
        "alpha": np.array(plan.alphas), "samples": plan.samples, "max_nodes": plan.max_nodes,
        "instances_total": count_instances(plan),
        "seed_rule": "instance (K, N, P, i): SeedSequence(seed, spawn_key=(18, K, N, P, i, 0)) "
                     "patterns, (..., 1) dynamics",
    })
    return attrs


# ------------------------------------------------------------------------------ running --


def which_instance(t) -> str:
    _, K, N, P, i = t
    return f"instance {i} of K={K} N={N} P={P}"


@dataclass(frozen=True)
class CapacitySummary:
    path: str
    instances: int
    ran: int
    wall_s: float
    analysis: dict


def run(plan: Plan, out: str, *, workers: int = 1, backend: str = "local", scheduler: str | None = None,
        slurm=None, overwrite: bool = False, command: str = "", quiet: bool = False,
        bootstrap: int = 200) -> CapacitySummary:
    """Answer every instance of ``plan`` not yet in ``out`` (resuming), then analyse and write.

    ``backend``: ``local`` processes, or ``dask`` (a scheduler at ``scheduler``, a LocalCluster, or with
    ``slurm`` (``relusim.execution.slurm.SlurmOptions``) Dask workers in SLURM jobs). A SLURM job array
    is not run from here: ``relusim.capacity.array.submit``. The finished instances of an earlier array's
    tasks are folded in when ``out`` is opened (``relusim.storage.capacity_file``).

    Holds ``out``'s owner lock (``relusim.storage.lock``, as ``anneal`` does) from before it is opened until
    it is written: a second run on the same ``out`` is refused with one line (InputError).
    """
    if backend not in RUNS_HERE:
        raise InputError("--backend", backend, f"allowed here: {', '.join(RUNS_HERE)}; a SLURM job array is "
                         "relusim.capacity.array.submit")
    if slurm is not None and backend != "dask":
        raise InputError("--slurm", True, "only with --backend dask (Dask workers as SLURM jobs)")
    from .. import paths
    from ..execution import processes
    from ..execution.runner import disk_full_is_one_line

    paths.check_writable("--out", out)
    processes.check_writes_trusted()
    t0 = time.perf_counter()
    command = command or " ".join(sys.argv)
    rf = results.ResultsFile(out)
    kept, store = "nothing was run", None
    try:
        with disk_full_is_one_line(out, kept):
            rf.claim(command, key="--out")  # anneal's owner lock: a second run on this --out is refused
            rf.clean_debris(shards_too=False)  # temporary files of killed capacity runs on this --out
            store = CapacityFile(out)
            store.open(plan.sha256(), overwrite)
        kept = f"the finished instances are kept in {out} and {store.journal.path}"
        with disk_full_is_one_line(out, kept):
            return _run_open(plan, store, out, workers, backend, scheduler, slurm, command, quiet, bootstrap, t0)
    except Interrupted as exc:
        processes.note_kept(exc, kept + (": rerun the same command to run the rest" if store is not None else ""))
        raise
    finally:
        rf.release()


def _run_open(plan, store, out, workers, backend, scheduler, slurm, command, quiet, bootstrap, t0):
    from tqdm import tqdm

    from ..execution.sweep import show_progress

    todo = [t for t in plan.instances() if t not in store.records]
    total = len(plan.instances())
    bar = tqdm(total=total, initial=total - len(todo), desc=f"capacity ({plan.method})", unit="instance",
               disable=not show_progress(quiet), dynamic_ncols=True)
    last = time.monotonic()
    if backend == "local":
        if plan.method == "anneal" and todo:  # compiled here once, loaded by the workers
            compile_kernels([plan.point_config(K, N, P) for K, N, P in sorted({t[:3] for t in todo})], quiet)
        # at most 8 instances per worker submitted at once: a grid can hold 10^6 of them
        executor = Local(workers, window=8 * workers)
    else:
        executor = Dask(scheduler, workers, slurm)
    # workers that die with this process: on an interruption they are killed, on a failure the
    # running instances finish (their answers are dropped: this process journals what it is given)
    failure = Failure(describe=which_instance, kept_in="the capacity journal")
    source = executor.map(solve_instance, [(plan, *t) for t in todo], failure)
    try:
        for _, rec in source:
            store.add(rec)
            bar.update(1)
            bar.set_postfix_str(f"K={rec.K} N={rec.N} P={rec.P}: "
                                f"{'solved' if rec.status == 1 else 'unknown' if rec.status < 0 else 'not solved'}")
            if time.monotonic() - last > WRITE_EVERY_S:
                store.write(file_attrs(plan, command), plan.weights)
                last = time.monotonic()
    finally:
        bar.close()
        if hasattr(source, "close"):
            source.close()  # the pool's workers end before the file is written
        store.write(file_attrs(plan, command), plan.weights)
    from .analysis import analyse

    analysis = analyse(plan, store.records, bootstrap=bootstrap)
    store.write(file_attrs(plan, command), plan.weights, analysis, finished=True)
    return CapacitySummary(str(out), total, len(todo), time.perf_counter() - t0, analysis)


def check_bits(a: Sequence[Record], b: Sequence[Record]) -> bool:
    """Whether two runs gave the same answers (everything but the timings)."""
    ka = {r.key: r for r in a}
    kb = {r.key: r for r in b}
    if ka.keys() != kb.keys():
        return False
    for k, r in ka.items():
        s = kb[k]
        if (r.status, r.work, r.energy) != (s.status, s.work, s.energy):
            return False
        if (r.witness is None) != (s.witness is None) or (r.witness is not None and not np.array_equal(r.witness, s.witness)):
            return False
    return True


__all__ = ["Plan", "Record", "load_records", "make_plan", "parse_alpha", "parse_ints", "run", "solve_instance",
           "make_instance", "streams", "RunError"]
