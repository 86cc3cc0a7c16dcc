"""``relusim capacity --backend slurm``: the instances of a capacity plan as a SLURM job array.

The same three steps as a sweep's array (``relusim.execution.cluster``, whose table and script writer,
``sbatch`` call and job directories are used here):

1. ``submit``: with the capacity file's locks held (``relusim.storage.lock``: refused while an earlier
   array's tasks run), fold what earlier tasks finished, write the sealed file (it carries the plan),
   then a task table ``<dir>/slurm/<stamp>/tasks.json`` of the instances not yet done, in chunks,
   with the plan and its ``capacity_sha256``, and ``array.sbatch``; submit it (not with ``--dry-run``).
2. ``run_task`` (``relusim run-task``, for a table of kind ``capacity``): refuses a table whose plan
   hashes otherwise with this relusim, or that lists an instance outside its plan; shares the file's
   task lock, holds its own journal's lock (one writer per file), skips the instances already in the
   file or its journal, and appends each instance it answers to
   ``<out>.parts/task-<stamp>-<id>.jsonl`` (``relusim.storage.capacity_file``).
3. ``merge`` (``relusim merge OUT``, or the same ``relusim capacity`` command run again): folds every
   task's journal into the sealed file (a journal of another plan is refused, nothing written) and,
   once every instance is answered, writes the analysis.

An instance's bits depend only on the plan and what it is (``relusim.capacity.grid``), so the file holds
the records of a local run, whichever task answered which instance.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..config import from_dict
from ..errors import DataError, InputError, RunError
from ..execution import cluster
from ..execution.executors import Failure, Local
from ..execution.runner import compile_kernels
from ..execution.slurm import SlurmOptions
from ..storage import lock, results
from ..storage.capacity_file import CapacityFile, Record, load_records, task_journal_path
from ..storage.journal import Journal
from .analysis import analyse
from .grid import CapacitySummary, Plan, which_instance, count_instances, file_attrs, solve_instance

Instance = tuple[int, int, int, int]  # (K, N, P, i)


@dataclass(frozen=True)
class Submission:
    job: cluster.ArrayJob | None  # None: nothing left to run
    job_id: str | None  # None: not submitted (dry run, or no sbatch here)
    merged: "MergeReport | None" = None  # after --wait, or when nothing was left to run


@dataclass(frozen=True)
class MergeReport:
    path: str
    merged: int  # instances folded in now from the journals
    done: int
    instances: int
    missing: tuple[Instance, ...]
    summary: CapacitySummary | None  # the analysis, once every instance is answered


# ---------------------------------------------------------------------------- the plan --


def plan_dict(plan: Plan) -> dict:
    return {"config": plan.base.to_dict(), "method": plan.method, "K": list(plan.Ks), "N": list(plan.Ns),
            "alpha": list(plan.alphas), "samples": plan.samples, "max_nodes": plan.max_nodes}


def plan_from(d: dict, sha: str, key: str, where: str) -> Plan:
    """The plan of a table or a file; refused (InputError) if it does not hash to ``sha`` with this relusim."""
    try:
        plan = Plan(from_dict(d["config"]), str(d["method"]), tuple(int(k) for k in d["K"]),
                    tuple(int(n) for n in d["N"]), tuple(float(a) for a in d["alpha"]), int(d["samples"]),
                    int(d["max_nodes"]))
    except InputError:
        raise
    except (KeyError, TypeError, ValueError):
        raise InputError(key, where, "holds no readable capacity plan") from None
    if plan.sha256() != sha:
        raise InputError(key, where, "its capacity plan hashes differently with this relusim version than when "
                         "it was written (another version, or edited); use the same version")
    return plan


def plan_of_file(path: str | os.PathLike) -> tuple[Plan, dict]:
    """The plan a capacity file was written for, from its root attributes (checked against its seals),
    and those attributes."""
    import yaml

    attrs, _ = load_records(path)
    try:
        d = {"config": yaml.safe_load(str(attrs["config"])), "method": attrs["method"], "K": attrs["K"],
             "N": attrs["N"], "alpha": attrs["alpha"], "samples": attrs["samples"], "max_nodes": attrs["max_nodes"]}
        sha = str(attrs["capacity_sha256"])
    except (KeyError, yaml.YAMLError):
        raise InputError("RESULTS", str(path), "holds no readable capacity plan") from None
    return plan_from(d, sha, "RESULTS", str(path)), attrs


# ------------------------------------------------------------------------------ submit --


def submit(plan: Plan, out: str, opts: SlurmOptions, *, chunk: int | None = None, dry_run: bool = False,
           wait: bool = False, overwrite: bool = False, command: str = "", bootstrap: int = 200) -> Submission:
    """Fold what earlier tasks finished, write the job array for the instances left, submit it.

    With ``wait``, block until the array ends, then ``merge``. Nothing left: the analysis is written."""
    from ..execution import processes

    opts.check()  # the script's values besides the options, before any file is touched
    processes.check_writes_trusted()
    rf = results.ResultsFile(out)
    try:
        rf.claim(command, key="--out")  # refused while another run, or an earlier array's tasks, hold it
        rf.clean_debris(shards_too=False)
        store = CapacityFile(out)
        store.open(plan.sha256(), overwrite)
        todo = [t for t in plan.instances() if t not in store.records]
        if not todo:
            return Submission(None, None, _finish(plan, store, command, bootstrap, time.perf_counter()))
        store.write(file_attrs(plan, command), plan.weights)  # sealed; it carries the plan for `merge`
        lock.release(out, lock.TASKS)  # the array tasks share it; this process keeps the file's lock
        job_dir = cluster.new_job_dir(Path(out).resolve().parent / "slurm")
        table = {"out": str(Path(out).resolve()), "capacity_sha256": plan.sha256(), "plan": plan_dict(plan),
                 "command": command, "job": job_dir.name,
                 "tasks": [[list(t) for t in c] for c in cluster.chunks(todo, chunk or cluster.default_chunk(
                     len(todo), opts.cores))]}
        job = cluster.write_job(cluster.CAPACITY, table, job_dir, opts, f"relusim-capacity-{plan.base.name}",
                                len(todo))
        job_id = cluster.submit(job, dry_run=dry_run, wait=wait)
        return Submission(job, job_id, merge(out, bootstrap) if wait and job_id else None)
    finally:
        rf.release()


# ---------------------------------------------------------------------------- run-task --


def load_table(path: str | os.PathLike) -> tuple[dict, Plan]:
    """A capacity task table and its plan, checked: the plan hashes as when written, and every listed
    instance is one of its plan."""
    table = cluster.read_table(path, cluster.CAPACITY)
    try:
        plan = plan_from(table["plan"], str(table["capacity_sha256"]), "--tasks", str(path))
        if not all(isinstance(table[k], str) and table[k] for k in ("out", "job")):
            raise TypeError
        listed = {tuple(int(x) for x in t) for c in table["tasks"] for t in c}
    except InputError:
        raise
    except (KeyError, TypeError, ValueError):
        raise InputError("--tasks", str(path), "is not a readable relusim task table") from None
    if any(len(t) != 4 for t in listed) or not listed <= set(plan.instances()):
        raise InputError("--tasks", str(path), "lists instances that are not of its plan (edited?)")
    return table, plan


def run_task(path: str | os.PathLike, task_id: int, workers: int = 1) -> Iterator[Record]:
    """Answer the instances of array task ``task_id`` not yet done, each appended to the task's journal."""
    table, plan = load_table(path)
    mine = [tuple(int(x) for x in t) for t in cluster.task_of(table["tasks"], task_id)]
    out, sha = table["out"], plan.sha256()
    journal = Journal(task_journal_path(out, table["job"], task_id))
    rf = results.ResultsFile(out)
    try:
        rf.claim(shared_tasks=True, key="--tasks")  # a capacity run on the file excludes the tasks
        lock.acquire(journal.path, lock.FILE, key="--task-id")  # one writer per journal
        done = {Record.from_json(d).key for d in journal.read() if d.get("sha") == sha}
        done |= _in_file(out, sha)
        todo = [t for t in mine if t not in done]
        if plan.method == "anneal" and todo:
            compile_kernels([plan.point_config(K, N, P) for K, N, P in sorted({t[:3] for t in todo})], True)
        failure = Failure(describe=which_instance, kept_in=str(journal.path))
        for _, rec in Local(workers, window=8 * workers).map(solve_instance, [(plan, *t) for t in todo], failure):
            journal.append(rec.to_json(sha))
            yield rec
    finally:
        journal.close()
        lock.release(journal.path, lock.FILE)
        rf.release()


def _in_file(out: str, sha: str) -> set[Instance]:
    """The instances already in the sealed capacity file (none if it is absent, damaged or of another plan)."""
    if not Path(out).exists():
        return set()
    try:
        attrs, records = load_records(out)
    except (InputError, DataError):
        return set()
    return {r.key for r in records} if attrs.get("capacity_sha256") == sha else set()


# ------------------------------------------------------------------------------- merge --


def merge(out: str | os.PathLike, bootstrap: int = 200) -> MergeReport:
    """Fold every array task's journal into the capacity file ``out``; with every instance answered,
    analyse and write the analysis too. Tasks may still run: what they finished so far is folded."""
    t0 = time.perf_counter()
    plan, attrs = plan_of_file(out)
    rf = results.ResultsFile(out)
    try:
        rf.claim(tasks=False, key="RESULTS")  # array tasks may still append; another merge or run may not
        rf.clean_debris(shards_too=False)
        store = CapacityFile(out)
        store.open(plan.sha256(), key="RESULTS")
        return _finish(plan, store, str(attrs.get("command", "")), bootstrap, t0, bool(attrs.get("finished")))
    finally:
        rf.release()


def _finish(plan: Plan, store: CapacityFile, command: str, bootstrap: int, t0: float,
            finished: bool = False) -> MergeReport:
    """Write the file from the records folded in (with the analysis once none is missing); a file that
    gains nothing and is as finished as it can be is left as it is."""
    merged = len(store.records) - store.from_file
    missing = tuple(t for t in plan.instances() if t not in store.records)
    total = count_instances(plan)
    summary = None
    if merged == 0 and (finished or missing):
        store.close()
    elif missing:
        store.write(file_attrs(plan, command), plan.weights)
    else:
        analysis = analyse(plan, store.records, bootstrap=bootstrap)
        store.write(file_attrs(plan, command), plan.weights, analysis, finished=True)
        summary = CapacitySummary(str(store.path), total, merged, time.perf_counter() - t0, analysis)
    return MergeReport(str(store.path), merged, total - len(missing), total, missing, summary)


def check_complete(report: MergeReport, shown: int = 5) -> None:
    """Raise a RunError naming the instances a merge left missing (what was there is folded in)."""
    if not report.missing:
        return
    which = ", ".join(f"K={K} N={N} P={P} i={i}" for K, N, P, i in report.missing[:shown])
    more = f" and {len(report.missing) - shown} more" if len(report.missing) > shown else ""
    raise RunError(f"{len(report.missing)} instance{'s' * (len(report.missing) != 1)} of {report.path} missing "
                   f"after the merge ({which}{more}); the instances present were folded in. Once the job array "
                   "has ended, rerun the `relusim capacity` command that wrote it to run only the missing "
                   "instances (--allow-missing accepts a partial merge)")
