"""The ``relusim`` command line: parse, validate, call the library, print. Nothing else.

Exit status: 0 success, 2 bad input (one line on stderr, no traceback), 1 a failure of the run
(one line too; with RELUSIM_DEBUG=1 in the environment the traceback is printed before it).
"""
from __future__ import annotations

import os
import sys
import traceback

import click

from ..errors import DataError, InputError, Interrupted, RunError


class _Commands(click.Group):
    """The main group; ``theory`` (SciPy: ~0.7 s to import) is imported only when it is used."""

    LAZY = {"theory": ("relusim.cli.theory", "theory_group")}

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx, name):
        if name in self.LAZY and name not in self.commands:
            import importlib

            module, attr = self.LAZY[name]
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="relusim")
def cli() -> None:
    """Statistical physics of learning in tree committee machines (sign / ReLU units)."""


@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="YAML experiment file.")
@click.option("--samples", type=int, default=None, help="Override the number of samples.")
@click.option("--workers", type=int, default=None, help="Local processes (default: all cores).")
@click.option("--out", type=str, default=None, help="Override the output file.")
@click.option("--overwrite", is_flag=True, help="Start afresh instead of resuming.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def anneal(config_path, samples, workers, out, overwrite, quiet) -> None:
    """Anneal every sample of a config and write an HDF5 result file (resumes by default).

    Example: relusim anneal --config configs/default.yaml --workers 2
    """
    from .. import config
    from ..execution import runner

    overrides = {k: v for k, v in (("samples", samples), ("output", out)) if v is not None}
    try:
        cfg = config.load(config_path, **overrides)
    except InputError as exc:  # a value given as an option is named as the option the user typed
        flag = {"samples": "--samples", "output": "--out"}.get(exc.key)
        if flag and exc.key in overrides:
            raise InputError(flag, exc.value, exc.allowed) from None
        raise
    if workers is not None and workers < 1:
        raise InputError("--workers", workers, "must be >= 1")
    s = runner.run(cfg, workers=workers or runner.default_workers(), overwrite=overwrite,
                   command="relusim " + " ".join(sys.argv[1:]), quiet=quiet)
    click.echo(s.message())


@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="YAML experiment file.")
def validate(config_path) -> None:
    """Check a config without running it; print the resolved config.

    Example: relusim validate --config configs/default.yaml
    """
    from .. import config

    from ..execution.resources import check_memory

    cfg = config.load(config_path)
    check_memory([cfg], 1)
    click.echo(cfg.to_yaml(), nl=False)
    m = cfg.model
    fan = "N/K" if m.architecture == "tree" else "N (fully connected)"
    click.echo(f"# ok: P = round(alpha x {m.weights_count} weights) = {m.P} patterns; fan-in n = {fan} = {m.n}",
               err=True)


@cli.command()
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--verify", is_flag=True, help="Also check the checksums of the pending shards; list every "
              "damaged sample (exit 1 if any).")
def info(results, verify) -> None:
    """Print what a result file (or a capacity file) holds and how far its run got.

    The file is checked against its seals first (the stored config, the manifest of its samples, every
    sample, /robustness; a capacity file's groups of instances and its analysis): a damaged, deleted,
    duplicated, foreign or unsealed sample or group is named in one line and the exit status is 1.

    Example: relusim info results/default.h5 --verify
    """
    from ..storage import capacity_file, results as io

    if capacity_file.is_capacity(results):
        io = capacity_file

    if verify:
        try:
            lines = io.verify(results)
        except DataError as exc:  # the whole report on stdout; the one line on stderr
            if getattr(exc, "report", None):
                click.echo("\n".join(exc.report))
            raise
    click.echo(io.summary(results))
    if verify:
        click.echo("\n".join(lines))


def _register_commands() -> None:
    from .analysis import COMMANDS as ANALYSIS
    from .capacity import COMMANDS as CAPACITY
    from .sweep import COMMANDS as CLUSTER

    for command in ANALYSIS + CLUSTER + CAPACITY:
        cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns every input error into one line on stderr and exit status 2."""
    from ..storage import lock
    from ..execution import processes

    processes.quiet_disk_full_noise()
    try:
        with processes.stop_on_signals():  # SIGTERM, SIGHUP, SIGINT: workers killed, one line, 128 + signal
            _main(argv)
    except SystemExit as exc:
        lock.release_all()
        if processes.write_failed():
            # HDF5 after a write that failed on a full disk can crash while it closes what is left at
            # exit (a segfault after our one line, status 139): leave without that teardown
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        raise
    finally:
        lock.release_all()  # the kernel would drop the locks anyway; this removes their files


def _main(argv: list[str] | None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="relusim", standalone_mode=False)
    except InputError as exc:
        click.echo(f"relusim: error: {exc}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        msg = " ".join(exc.format_message().split())
        click.echo(f"relusim: error: {msg}", err=True)
        sys.exit(exc.exit_code)
    except Interrupted as exc:
        if os.environ.get("RELUSIM_DEBUG") == "1":
            traceback.print_exception(exc)
        click.echo(f"relusim: {exc}", err=True)
        sys.exit(128 + exc.signum)
    except click.exceptions.Abort:
        click.echo("relusim: aborted", err=True)
        sys.exit(130)
    except RunError as exc:
        if os.environ.get("RELUSIM_DEBUG") == "1":
            traceback.print_exception(exc)  # the whole chain: a worker's own traceback included
        click.echo(f"relusim: run failed: {exc}", err=True)
        sys.exit(1)
    except DataError as exc:
        if os.environ.get("RELUSIM_DEBUG") == "1":
            traceback.print_exception(exc)
        click.echo(f"relusim: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        from ..storage import results as io

        if not io.is_disk_full(exc):
            raise
        if os.environ.get("RELUSIM_DEBUG") == "1":
            traceback.print_exception(exc)
        where = _disk_full_where(exc)
        click.echo(f"relusim: run failed: {io.disk_full_error(where, 'what was finished is kept')}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


def _disk_full_where(exc: BaseException) -> str:
    """The file a full disk hit: the OSError's filename, or the one HDF5 names in its message
    (``filename = '...'``); the working directory only when neither says."""
    import re

    for e in (exc, exc.__cause__, exc.__context__):
        if e is None:
            continue
        if getattr(e, "filename", None):
            return str(e.filename)
        m = re.search(r"filename = '([^']+)'", str(e))
        if m:
            return m.group(1)
    return os.getcwd()
