"""The ``relusim`` command line: parse, validate, call the library, print. Nothing else.

Exit status: 0 success, 2 bad input (one line on stderr, no traceback), 1 a failure of the run
(one line too; with RELUSIM_DEBUG=1 in the environment the traceback is printed before it).
"""
from __future__ import annotations

import os
import sys
import traceback

import click

from .errors import InputError, RunError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    from . import config, runner

    overrides = {k: v for k, v in (("samples", samples), ("output", out)) if v is not None}
    cfg = config.load(config_path, **overrides)
    if workers is not None and workers < 1:
        raise InputError("--workers", workers, "must be >= 1")
    s = runner.run(cfg, workers=workers or runner.default_workers(), overwrite=overwrite,
                   command="relusim " + " ".join(sys.argv[1:]), quiet=quiet)
    click.echo(f"{s.path}: {s.samples} samples ({s.ran} run now, {s.solved} of them solved) "
               f"in {s.wall_s:.1f} s")


@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="YAML experiment file.")
def validate(config_path) -> None:
    """Check a config without running it; print the resolved config.

    Example: relusim validate --config configs/default.yaml
    """
    from . import config

    cfg = config.load(config_path)
    click.echo(cfg.to_yaml(), nl=False)
    click.echo(f"# ok: P = {cfg.model.P} patterns, n = N/K = {cfg.model.n}", err=True)


@cli.command()
@click.argument("results", type=click.Path(dir_okay=False))
def info(results) -> None:
    """Print what a result file holds and how far its run got.

    Example: relusim info results/default.h5
    """
    from . import io

    click.echo(io.summary(results))


def _register_commands() -> None:
    from .analysis_cli import COMMANDS as ANALYSIS
    from .capacity_cli import COMMANDS as CAPACITY
    from .cluster_cli import COMMANDS as CLUSTER
    from .theory.cli import theory_group

    cli.add_command(theory_group, "theory")
    for command in ANALYSIS + CLUSTER + CAPACITY:
        cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns every input error into one line on stderr and exit status 2."""
    try:
        rv = cli.main(args=argv, prog_name="relusim", standalone_mode=False)
    except InputError as exc:
        click.echo(f"relusim: error: {exc}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        msg = " ".join(exc.format_message().split())
        click.echo(f"relusim: error: {msg}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("relusim: aborted", err=True)
        sys.exit(130)
    except RunError as exc:
        if os.environ.get("RELUSIM_DEBUG") == "1":
            traceback.print_exception(exc)  # the whole chain: a worker's own traceback included
        click.echo(f"relusim: run failed: {exc}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
