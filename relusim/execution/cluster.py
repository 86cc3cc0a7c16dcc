"""Where the samples of a sweep run: local processes, Dask, or a SLURM job array.

Every backend runs the same function on the same (config, sample index) pairs, so a sample's bits
depend only on (config, seed, index) (``relusim.models.instance``), never on the backend, the chunking or
the number of workers. A finished sample always becomes a shard, ``<output>.parts/NNNNNN.h5``, written
atomically (``relusim.storage.results``) before it is reported, so killing anything loses no finished sample.

* ``LocalBackend``: a process pool over the cores of this machine (``relusim.execution.executors.Local``, as
  ``anneal --workers`` and ``capacity`` use).
* ``DaskBackend``: ``relusim.execution.executors.Dask``, on a scheduler given by its address, on a
  ``LocalCluster`` started for the run, or on ``dask_jobqueue.SLURMCluster`` jobs. Workers return
  the sample and this process writes its shard, so workers need not share a file system with it. A
  worker that dies has its task rerun elsewhere by the scheduler.
* SLURM job arrays: ``write_array`` writes an ``sbatch`` script and a task table (one array task per
  chunk of samples); each task runs ``relusim run-task``, which writes its shards next to each point's
  result file on the shared file system; ``merge`` joins them after checking their provenance. The
  table and script writer (``write_job``, ``read_table``: a table says which command wrote it),
  ``submit`` and ``new_job_dir`` serve ``relusim capacity --backend slurm`` too (``relusim.capacity.array``).

Numba compiles the kernels once and caches them on disk (``cache=True``). On a cluster, set
``NUMBA_CACHE_DIR`` to a per-user directory on a file system the nodes share: the job scripts written
here default it to ``$HOME/.cache/relusim/numba``, so one compilation serves every node and a
read-only install (a site-wide environment) still gets a cache.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import h5py

from ..storage import capacity_file, lock, results
from .executors import Dask, Failure, Local, default_workers
from .slurm import SlurmOptions
from ..config import Config, from_dict
from ..errors import InputError, RunError
from .sweep import Point, Task, prepare

MAX_ARRAY_TASKS = 1000  # Slurm's default MaxArraySize is 1001


class Finished(NamedTuple):
    """A sample whose shard is on disk."""

    output: str
    index: int
    solved: bool
    energy: int


# ------------------------------------------------------------------------------- local --


def _run_and_store(cfg: Config, index: int) -> Finished:
    from .runner import run_one

    i, solved, energy = run_one(cfg, index)
    return Finished(cfg.output, i, bool(solved), int(energy))


def _which(cfg: Config, index: int) -> str:
    return f"sample {index} of {Path(cfg.output).name}"


@dataclass(frozen=True)
class LocalBackend:
    """A pool of ``workers`` processes on this machine (``relusim.execution.executors.Local``); each writes the
    shards of its samples."""

    workers: int = field(default_factory=default_workers)
    runs_here = True

    def run(self, tasks: Sequence[Task]) -> Iterator[Finished]:
        outputs = sorted({t.cfg.output for t in tasks})

        def cleanup() -> None:  # killed workers: remove what they were writing
            for out in outputs:
                results.ResultsFile(out).clean_debris(shards_too=True, quiet=True)

        failure = Failure(describe=lambda t: _which(t[0], t[1]), kept_in="the points' result folders",
                          disk_full=lambda t: results.disk_full_error(t[0].output, "the finished samples are kept "
                                                                 "in the points' result folders"),
                          cleanup=cleanup, kept="the finished samples are kept in the points' result folders: "
                                                "rerun the same command to run the rest")
        for _, finished in Local(self.workers).map(_run_and_store, [(t.cfg, t.index) for t in tasks], failure):
            yield finished


# -------------------------------------------------------------------------------- dask --


def _sample(cfg: Config, index: int):
    from ..anneal import run_sample

    return run_sample(cfg, index)


@dataclass(frozen=True)
class DaskBackend:
    """Samples on ``dask.distributed``: a user's scheduler, a LocalCluster, or SLURMCluster jobs.

    ``workers``: LocalCluster processes, or SLURMCluster worker processes in all (one per core).
    """

    address: str | None = None
    workers: int | None = None
    slurm: SlurmOptions | None = None
    runs_here = False

    def run(self, tasks: Sequence[Task]) -> Iterator[Finished]:
        if not tasks:
            return
        shas = {t.cfg.output: t.cfg.physics_sha256() for t in tasks}
        logs = Path(tasks[0].cfg.output).resolve().parent / "slurm" / "dask-logs"
        dask = Dask(self.address, self.workers, self.slurm, log_directory=logs)
        failure = Failure(describe=lambda t: _which(t[0], t[1]), kept_in="the points' result folders")
        for (cfg, _), res in dask.map(_sample, [(t.cfg, t.index) for t in tasks], failure):
            results.write_shard(cfg.output, res, shas[cfg.output])
            yield Finished(cfg.output, res.index, bool(res.solved), int(res.energy.sum()))


# ------------------------------------------------------------------------- option parsing --

_WALLTIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$", re.IGNORECASE)


def parse_walltime(text: str) -> str:
    """Check a Slurm time limit: ``minutes``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM[:SS]``."""
    if not _WALLTIME.match(text.strip()):
        raise InputError("--walltime", text, "expected a Slurm time such as 30, 02:00:00 or 1-12:00:00")
    return text.strip()


def parse_memory(text: str) -> int:
    """Bytes of ``4G``, ``4GB``, ``4GiB``, ``500M``: binary multiples, as Slurm reads ``--mem``."""
    m = _MEMORY.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise InputError("--memory", text, "expected a size such as 4G, 4GB or 500M")
    return int(float(m.group(1)) * 1024 ** "BKMGT".index((m.group(2) or "B").upper()))


# --------------------------------------------------------------------- SLURM job arrays --


@dataclass(frozen=True)
class ArrayJob:
    script: Path
    table: Path
    n_tasks: int
    samples: int

    def sbatch_command(self, wait: bool = False) -> list[str]:
        return ["sbatch", "--parsable", *(["--wait"] if wait else []), str(self.script)]


def chunks(tasks: Sequence[Task], chunk: int) -> list[list[Task]]:
    return [list(tasks[i:i + chunk]) for i in range(0, len(tasks), chunk)]


def default_chunk(n_samples: int, cores: int) -> int:
    """One sample per core per task, more where that would pass Slurm's default array size."""
    return max(cores, math.ceil(n_samples / MAX_ARRAY_TASKS))


def write_array(tasks: Sequence[Task], job_dir: str | os.PathLike, opts: SlurmOptions,
                chunk: int | None = None, name: str = "relusim") -> ArrayJob:
    """Write ``job_dir/{array.sbatch,tasks.json}`` for ``tasks``: array task i runs chunk i.

    The table holds each point's resolved config and its physics hash; ``run-task`` refuses a
    config that no longer hashes the same (another relusim version computes other bits).
    """
    if not tasks:
        raise InputError("--backend", "slurm", "nothing to run: every sample of the sweep is done")
    chunk = chunk or default_chunk(len(tasks), opts.cores)
    configs: dict[str, int] = {}
    points: list[dict] = []
    for t in tasks:
        if t.cfg.output not in configs:
            cfg = t.cfg.replace(output=str(Path(t.cfg.output).resolve()))
            configs[t.cfg.output] = len(points)
            points.append({"config": cfg.to_dict(), "config_sha256": cfg.physics_sha256()})
    table = {"points": points,
             "tasks": [[[configs[t.cfg.output], t.index] for t in c] for c in chunks(tasks, chunk)]}
    return write_job(SWEEP, table, job_dir, opts, name, len(tasks))


SWEEP, CAPACITY = "sweep", "capacity"  # the kinds of task table; a table without "kind" is a sweep's
_ABOUT = {
    SWEEP: ["# A relusim sweep as a job array, written by `relusim sweep --backend slurm`. Array task i runs",
            "# the samples listed under tasks[i] of tasks.json and writes one shard per finished sample next",
            "# to its point's result file; `relusim merge` joins them. A rerun of a task skips finished",
            "# samples; a sample's bits do not depend on which task ran it."],
    CAPACITY: ["# A relusim capacity run as a job array, written by `relusim capacity --backend slurm`. Array",
               "# task i answers the instances listed under tasks[i] of tasks.json and appends each to its own",
               "# journal in <out>.parts/; `relusim merge <out>` (or the same `relusim capacity` command)",
               "# folds them into the capacity file. A rerun of a task skips finished instances; an",
               "# instance's bits do not depend on which task ran it."],
}


def write_job(kind: str, table: dict, job_dir: str | os.PathLike, opts: SlurmOptions, name: str,
              units: int) -> ArrayJob:
    """Write ``job_dir/tasks.json`` (``table`` with its ``kind`` and the time) and ``job_dir/array.sbatch``,
    whose array task i runs ``relusim run-task`` on ``table["tasks"][i]``. ``units``: samples or instances."""
    job_dir = Path(job_dir).resolve()
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    table = {"kind": kind, "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             **table}
    table_path = job_dir / "tasks.json"
    table_path.write_text(json.dumps(table, indent=1))
    n = len(table["tasks"])
    script = job_dir / "array.sbatch"
    script.write_text(_array_script(job_dir, table_path, n, opts, name, _ABOUT[kind]))
    script.chmod(0o755)
    return ArrayJob(script, table_path, n, units)


def _array_script(job_dir: Path, table: Path, n_tasks: int, opts: SlurmOptions, name: str,
                  about: Sequence[str] = _ABOUT[SWEEP]) -> str:
    """The sbatch script. Every value is quoted for bash and for sbatch's own ``#SBATCH`` parser (which
    reads quotes as bash does), and none can end a line: every value was refused at the command line if
    it held a control character, and the whole script is checked again here."""
    from ..paths import check_plain

    q = shlex.quote
    logs = str(job_dir / "logs").replace("%", "%%")  # sbatch expands %A, %a, ...: a literal % is %%
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={q(name)}",
        f"#SBATCH --array=0-{n_tasks - 1}",
        f"#SBATCH --output={q(logs + '/%A_%a.out')}",
        f"#SBATCH --chdir={q(os.getcwd())}",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={opts.cores}",
    ]
    if opts.queue:
        lines.append(f"#SBATCH --partition={q(opts.queue)}")
    if opts.walltime:
        lines.append(f"#SBATCH --time={opts.walltime}")
    if opts.memory_bytes:
        lines.append(f"#SBATCH --mem={math.ceil(opts.memory_bytes / 2**20)}M")
    lines += [
        "#",
        *about,
        "set -euo pipefail",
        *opts.prologue(),
        f"exec {q(opts.python)} -m relusim run-task --tasks {q(str(table))} "
        f'--task-id "$SLURM_ARRAY_TASK_ID" --workers {opts.cores}',
    ]
    for line in lines:  # defence in depth: no value may end a line of the script
        check_plain("job script", line, "a value would end a line of the script")
    return "\n".join(lines) + "\n"


def submit(job: ArrayJob, *, dry_run: bool = False, wait: bool = False) -> str | None:
    """Submit ``job`` with ``sbatch`` and return its job id; None when not submitted (dry run, no sbatch)."""
    if dry_run or shutil.which("sbatch") is None:
        return None
    p = subprocess.run(job.sbatch_command(wait), capture_output=True, text=True)
    job_id = p.stdout.strip().split(";")[0]
    if p.returncode != 0:
        what = f"job {job_id} ended with a failed task" if wait and job_id else "sbatch failed"
        raise RunError(f"{what} (exit {p.returncode}): {' '.join(p.stderr.split())}; "
                       f"logs in {job.script.parent / 'logs'}")
    return job_id


def read_table(path: str | os.PathLike, kind: str) -> dict:
    """A task table of ``kind`` as written by ``write_job``; one line (InputError) for a file that is not
    one, or a table of the other kind (a sweep's given where a capacity run's is expected, or back)."""
    try:
        table = json.loads(Path(path).read_text())
        theirs, tasks = table.get("kind", SWEEP), table["tasks"]
        if not isinstance(tasks, list):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError("--tasks", str(path), "is not a readable relusim task table") from None
    if theirs != kind:
        raise InputError("--tasks", str(path), f"is a task table of `relusim {theirs}`, not of `relusim {kind}`")
    return table


def table_kind(path: str | os.PathLike) -> str:
    """Which command wrote the task table at ``path`` (``SWEEP`` or ``CAPACITY``)."""
    try:
        kind = json.loads(Path(path).read_text()).get("kind", SWEEP)
    except (OSError, ValueError, AttributeError):
        raise InputError("--tasks", str(path), "is not a readable relusim task table") from None
    if kind not in _ABOUT:
        raise InputError("--tasks", str(path), f"is a task table of an unknown kind {kind!r}")
    return kind


def task_of(tasks: list, task_id: int) -> list:
    """Array task ``task_id``'s chunk of a table's ``tasks``."""
    if not 0 <= task_id < len(tasks):
        raise InputError("--task-id", task_id, f"must be in 0..{len(tasks) - 1}")
    return tasks[task_id]


def load_table(path: str | os.PathLike) -> tuple[list[Config], list[list[tuple[int, int]]]]:
    """Read a sweep's task table; refuse a point whose config does not hash as when it was written."""
    table = read_table(path, SWEEP)
    try:
        points, tasks = table["points"], table["tasks"]
        configs = []
        for p in points:
            cfg = from_dict(p["config"])
            if cfg.physics_sha256() != p["config_sha256"]:
                raise InputError("--tasks", str(path), f"point {cfg.name} hashes differently with this relusim "
                                 "version than when the sweep was written; use the same version")
            configs.append(cfg)
        return configs, [[(int(pi), int(i)) for pi, i in chunk] for chunk in tasks]
    except InputError:
        raise
    except (KeyError, TypeError, ValueError):
        raise InputError("--tasks", str(path), "is not a readable relusim task table") from None


def run_task(table: str | os.PathLike, task_id: int, workers: int = 1) -> Iterator[Finished]:
    """Run array task ``task_id`` of a task table; samples already finished are skipped."""
    configs, tasks = load_table(table)
    mine = task_of(tasks, task_id)
    done: dict[int, set[int]] = {}
    todo = []
    for pi, _ in mine:  # array tasks share a point; an anneal or sweep on it excludes them
        results.ResultsFile(configs[pi].output).claim(shared_tasks=True)
    for pi, index in mine:
        if pi not in done:
            rf = results.ResultsFile(configs[pi].output)
            done[pi] = rf.done_indices() if rf.path.exists() else set(rf.shard_paths())
        if index not in done[pi]:
            todo.append(Task(configs[pi], index))
    yield from LocalBackend(workers).run(todo)


# ------------------------------------------------------------------------------ merging --


@dataclass(frozen=True)
class MergeReport:
    path: str
    merged: int
    done: int
    samples: int
    missing: tuple[int, ...]


def result_files(paths: Sequence[str | os.PathLike]) -> tuple[list[Path], list[Path]]:
    """The sweeps' result files and the capacity files named by ``paths``: files as given, directories
    for their ``*.h5``."""
    files: list[Path] = []
    capacity: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in sorted(p.iterdir()) if f.suffix in (".h5", ".hdf5") and not f.name.startswith(".")]
        elif p.is_file():
            found = [p]
        else:
            raise InputError("RESULTS", str(p), "does not exist")
        for f in found:
            (capacity if capacity_file.is_capacity(f) else files).append(f)
    if not files and not capacity:
        raise InputError("RESULTS", " ".join(map(str, paths)), "holds no result files (*.h5)")
    return files, capacity


def file_config(path: Path) -> tuple[Config, str]:
    """The config stored in a result file and its recorded hash, after checking that they agree."""
    try:
        with h5py.File(path, "r") as f:
            text, sha, kind = f.attrs.get("config"), f.attrs.get("config_sha256"), f.attrs.get("kind")
    except OSError:
        raise InputError("RESULTS", str(path), "is not a readable HDF5 file") from None
    if kind == capacity_file.KIND:
        raise InputError("RESULTS", str(path), "is a capacity file (written by `relusim capacity`), not a "
                         "sweep's result file: relusim.capacity.array.merge folds its array tasks' journals")
    if text is None or sha is None:
        raise InputError("RESULTS", str(path), "is not a relusim result file (no config in it)")
    from ..config import parse_yaml

    try:
        raw = parse_yaml(str(text), "RESULTS", str(path))
        raw["output"] = str(path)  # where the file is now, not where it was written
    except (InputError, TypeError):
        raise InputError("RESULTS", str(path), "its stored config is not readable YAML (damaged?)") from None
    cfg = from_dict(raw)
    if cfg.physics_sha256() != sha:
        raise InputError("RESULTS", str(path), "its config does not hash to its config_sha256: "
                         "written by another relusim version, or edited")
    return cfg, sha


def merge(paths: Sequence[str | os.PathLike]) -> list[MergeReport]:
    """Join the shards of each sweep result file of ``paths`` into it, refusing shards of another config.

    Every shard of every file is checked before anything is written, so a refusal changes nothing.
    Capacity files are folded by ``relusim.capacity.array.merge``.
    """
    files = result_files(paths)[0]
    checked = []
    for path in files:
        cfg, sha = file_config(path)
        rf = results.ResultsFile(path)
        rf.claim(tasks=False, key="RESULTS")  # array tasks may still write shards; another merge may not
        for i, shard in rf.shard_paths().items():
            rf.check_shard(i, shard, sha)  # another config's shard: InputError before anything is written
        checked.append((rf, cfg, sha))
    reports = []
    for rf, cfg, sha in checked:
        rf.clean_debris(shards_too=False)
        rf.repair()
        samples = int(rf.attr("samples", cfg.samples))
        merged = rf.merge_shards(sha, final_samples=samples)
        stored = rf.stored_indices()
        reports.append(MergeReport(str(rf.path), merged, len(stored), samples,
                                   tuple(i for i in range(samples) if i not in stored)))
        rf.release()
    return reports


def ranges(indices: Sequence[int]) -> str:
    """``0, 2-5, 9``: sorted sample indices, runs of consecutive ones as ranges."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def check_complete(reports: Sequence[MergeReport], shown: int = 5) -> None:
    """Raise a RunError naming the samples that a merge left missing (what was there is merged)."""
    short = [r for r in reports if r.missing]
    if not short:
        return
    n = sum(len(r.missing) for r in short)
    which = "; ".join(f"{Path(r.path).name}: {ranges(r.missing)}" for r in short[:shown])
    more = f"; and {len(short) - shown} more files" if len(short) > shown else ""
    raise RunError(f"{n} sample{'s' if n != 1 else ''} missing after the merge ({which}{more}); the samples "
                   "present were merged. Once the job array has ended, rerun the `relusim sweep` command "
                   "that wrote these files to run only the missing samples, then merge again "
                   "(--allow-missing accepts a partial merge)")


# ------------------------------------------------------------------- a sweep as an array --


@dataclass(frozen=True)
class Submission:
    job: ArrayJob | None  # None: nothing left to run
    job_id: str | None  # None: not submitted (dry run, or no sbatch here)
    reports: tuple[MergeReport, ...] = ()  # after --wait, or when nothing was left to run


def submit_sweep(points: Sequence[Point], opts: SlurmOptions, *, chunk: int | None = None, dry_run: bool = False,
                 wait: bool = False, overwrite: bool = False, command: str = "") -> Submission:
    """Prepare every point's result file, write the job array for the samples left, submit it.

    With ``wait``, block until the array ends and merge the points' files.
    """
    opts.check()  # the script's values besides the options, before any file is touched
    tasks = prepare(points, command, overwrite)
    outputs = [p.cfg.output for p in points]
    for out in outputs:  # the array tasks compute the samples: they share the task lock, this process
        lock.release(out, lock.TASKS)  # keeps the file lock (for the merge) only
    if not tasks:
        return Submission(None, None, tuple(merge(outputs)))
    job = write_array(tasks, new_job_dir(Path(outputs[0]).parent / "slurm"), opts, chunk,
                      name=f"relusim-{points[0].cfg.name.split('__')[0]}")
    job_id = submit(job, dry_run=dry_run, wait=wait)
    reports = tuple(merge(outputs)) if wait and job_id else ()
    return Submission(job, job_id, reports)


def new_job_dir(parent: Path) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):  # two submissions within a second must not share a task table
        d = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            d.mkdir(parents=True)
            return d
        except FileExistsError:
            continue
    raise RunError(f"cannot create a new job directory in {parent}")
