"""Calling a writer from many threads at once, as the sink's and the gateway's request threads do.

The table tests need a thread's exception to fail the test rather than vanish with the thread
(``threading`` only prints it), so every call's error is kept and asserted on here, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def call_concurrently(call: Callable[[int], None], threads: int, join_seconds: float) -> None:
    """``call(0)`` ... ``call(threads - 1)``, each in its own thread; fails if any of them raised."""
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            call(index)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(join_seconds)
    assert errors == []
