"""Work on two threads, results in order: parsing leaves a core idle part of the time."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_order_on_threads(work: Callable[[T], R], items: Iterator[T], threads: int = 2) -> Iterator[R]:
    """`map(work, items)` with up to `threads` items in progress at once, results in input order.

    Parsing one block leaves a core idle part of the time (a regex over one column runs on one thread),
    so two blocks are parsed at once; at most `threads` blocks are held, so memory stays bounded.
    """
    with ThreadPoolExecutor(threads, thread_name_prefix="logscope-parse") as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
