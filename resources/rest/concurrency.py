"""Fetching ahead: pages in parallel in a deterministic order, or one page ahead of the load."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

_In = TypeVar("_In")
_Out = TypeVar("_Out")


def ordered_parallel(
    work: Callable[[_In], _Out], items: Iterable[_In], workers: int
) -> Iterator[_Out]:
    """`map(work, items)` on `workers` threads, at most `2 * workers` results ahead of the
    consumer, yielded in the order of `items`."""
    source = iter(items)
    pending: deque[Future[_Out]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rest") as pool:
        try:
            for item in source:
                pending.append(pool.submit(work, item))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                result = pending.popleft().result()
                for item in source:
                    pending.append(pool.submit(work, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()


_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterator[_Out], depth: int = 2) -> Iterator[_Out]:
    """Run `items` on a thread of its own, up to `depth` results ahead of the consumer."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:
            put(_Failed(error))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="rest-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            value = buffer.get()
            if value is _DONE:
                return
            if isinstance(value, _Failed):
                raise value.error
            yield value  # type: ignore[misc]
    except BaseException as error:
        stop.set()
        if isinstance(error, Exception | GeneratorExit):
            thread.join()
        # else an interrupt (Ctrl-C): stop now; the daemon thread ends with its request
        raise
    else:
        stop.set()
        thread.join()
