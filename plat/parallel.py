"""Run one function over many items at once (hosts, mostly), collecting user errors per item."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from plat.errors import PlatError

T = TypeVar("T")


def each(items: list[T], fn: Callable[[T], Any], parallel: int) -> list[tuple[T, Any, PlatError | None]]:
    """Run `fn` on every item, `parallel` at a time: (item, result, error) in input order.

    A PlatError is collected; anything else is a bug and propagates.
    """
    def one(item: T) -> tuple[T, Any, PlatError | None]:
        try:
            return item, fn(item), None
        except PlatError as exc:
            return item, None, exc

    if len(items) <= 1:
        return [one(i) for i in items]
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(items)))) as pool:
        return list(pool.map(one, items))
