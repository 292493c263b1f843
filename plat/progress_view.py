"""Render a running build: a progress bar on a TTY, one line per step otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from plat.builder.progress import BuildLog
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
        TextColumn("{task.fields[label]}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.description}", markup=False), TimeElapsedColumn(), console=err, transient=True,
    ) as bar:
        task = bar.add_task("", total=None, label=label)

        def update(log: BuildLog) -> None:
            text = log.instruction[:60]
            bar.update(task, total=log.total or None, completed=max(log.step - 1, 0), description=text)

        yield update


@contextmanager
def push_progress(ref: str, quiet: bool = False) -> Iterator[Callable[[dict], None]]:
    """Bytes pushed across layers, from the Engine's push stream."""
    if quiet or not err.is_terminal:
        if not quiet:
            err.print(f"pushing {ref}", markup=False)
        yield lambda event: None
        return
    layers: dict[str, tuple[int, int]] = {}
    with Progress(TextColumn("push", style="bold"), BarColumn(), TextColumn("{task.description}", markup=False),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(ref, total=None)

        def update(event: dict) -> None:
            layer, detail = event.get("id"), event.get("progressDetail") or {}
            if layer and detail.get("total"):
                layers[layer] = (detail.get("current", 0), detail["total"])
            elif layer and event.get("status") in ("Pushed", "Layer already exists") and layer in layers:
                layers[layer] = (layers[layer][1], layers[layer][1])
            done, total = sum(c for c, _ in layers.values()), sum(t for _, t in layers.values())
            bar.update(task, completed=done, total=total or None)

        yield update


@contextmanager
def fleet_progress(hosts: list[str], quiet: bool = False
                   ) -> Iterator[tuple[Callable[[str, str], None], Callable[[str, int, int], None]]]:
    """One row per host: what it is doing, and bytes sent while its image travels."""
    if quiet:
        yield (lambda h, what: None), (lambda h, sent, total: None)
        return
    if not err.is_terminal:
        yield (lambda h, what: err.print(f"{h}: {what}", markup=False, soft_wrap=True)), (lambda h, s, t: None)
        return
    with Progress(TextColumn("{task.fields[host]}", style="bold", markup=False),
                  TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks = {h: bar.add_task("waiting", total=None, host=h) for h in hosts}

        def event(host: str, what: str) -> None:
            if host in tasks:
                bar.update(tasks[host], description=what)

        def progress(host: str, sent: int, total: int) -> None:
            if host in tasks:
                bar.update(tasks[host], completed=sent, total=total)

        yield event, progress
