"""Render a running build: a progress bar on a TTY, one line per step otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from plat.build.progress import BuildLog
from plat.ui import err


@contextmanager
def build_progress(label: str, quiet: bool = False) -> Iterator[Callable[[BuildLog], None]]:
    if quiet:
        yield lambda log: None
        return
    if not err.is_terminal:
        last = [0]

        def plain(log: BuildLog) -> None:
            # Without a TTY, one line per step that actually runs (cached steps stay quiet).
            if log.executing and log.step != last[0]:
                last[0] = log.step
                err.print(f"{label}: step {log.step}/{log.total} {log.instruction}", soft_wrap=True, markup=False)

        yield plain
        return
    with Progress(
        TextColumn("[bold]{task.fields[label]}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True,
    ) as bar:
        task = bar.add_task("", total=None, label=label)

        def update(log: BuildLog) -> None:
            text = log.instruction[:60]
            bar.update(task, total=log.total or None, completed=max(log.step - 1, 0), description=text)

        yield update
