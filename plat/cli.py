"""The plat command line: registers the verbs, handles errors. Nothing else."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from plat import __version__
from plat.commands import (
    agent,
    audit,
    build,
    config,
    deploy,
    destroy,
    detect,
    dev,
    doctor,
    hosts,
    init,
    invoke,
    lock,
    logs,
    rollback,
    run,
    runtimes,
    scale,
    schema,
    secrets,
    status,
    tenants,
)
from plat.errors import PlatError
from plat.ui import err, show_error, show_failure

app = typer.Typer(
    name="plat",
    help="From an app folder to traffic on your own hosts: init, dev, build, run, deploy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: plat init demo --runtime go && plat run demo",
)

_debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", envvar="PLAT_DEBUG", help="Show tracebacks for errors.")] = False,
) -> None:
    global _debug
    _debug = debug


for module in (init, detect, build, run, dev, deploy, invoke, logs, status, rollback, scale, destroy, hosts, secrets,
               lock, audit, tenants, agent, runtimes, schema, config, doctor):
    module.register(app)


def main() -> None:
    try:
        app()
    except PlatError as exc:
        if _debug:
            traceback.print_exc()
        show_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if _debug:
            raise
        show_failure(f"unexpected {type(exc).__name__}: {exc}", "rerun with --debug for the traceback, and report it")
        sys.exit(1)
