"""Reading an OTLP/HTTP request body with hard bounds: size, time, and memory shared by all requests.

Why each bound:

- **Size.** A body is only ever held up to the limit, and a gzip bomb (a few KiB inflating
  to gigabytes) is stopped as soon as its output passes the limit.
- **Time.** A body must arrive by a deadline and, after a grace period, at a minimum average
  rate (:class:`BodyPace`), so a client that sends a head and trickles the body (slowloris),
  or announces a chunk of 2**72 bytes, is cut off instead of holding its request forever.
- **Memory across requests.** The size limit is per request, and concurrency multiplies it
  (64 bombs x 20 MiB): every raw and decompressed byte is taken from one
  :class:`MemoryBudget` before it is held and given back when the request ends, and a
  request that would pass the budget is refused (the sink answers 503 + ``Retry-After``).

Nothing here keeps a buffer referenced from an exception: refusals are raised after the
buffers are dropped, so a refused request's memory is freed by reference counting at once,
not by a garbage collection that an idle server may never run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType

import anyio

#: Content-Encoding -> zlib window bits. OTLP requires gzip; deflate (zlib format) is what
#: the OpenTelemetry SDKs send when configured with ``Compression.Deflate``.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_IDENTITY = ("", "identity")
#: Inflated bytes produced per step: each step's output is taken from the budget first.
_INFLATE_STEP = 1024 * 1024
#: Bytes given back since the last trim after which an idle budget hands free memory to the OS.
_TRIM_AFTER = 64 * 1024 * 1024


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _return_free_memory() -> None:
    """Hand the allocator's free pages back to the OS.

    Why: glibc raises its mmap threshold after the first large buffer is freed (up to
    32 MiB), so later body-sized buffers come from the heap, and freeing them leaves the
    pages with the process: 70 concurrent 8 MiB bodies left ``serve`` at 400 MiB after every
    request had ended. ``malloc_trim(0)`` gives back every free page of every arena.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class BodyError(Exception):
    """A body the sink refuses; ``status`` is the HTTP status to answer with."""

    status = 400


class BodyTooLarge(BodyError):
    status = 413


class UnsupportedEncoding(BodyError):
    status = 415


class BodyTooSlow(BodyError):
    status = 408


class OverBudget(BodyError):
    """The shared memory budget cannot hold this request now; retrying later can succeed."""

    status = 503


def supported_encoding(header: str | None) -> str:
    """The normalized Content-Encoding, or :class:`UnsupportedEncoding`."""
    encoding = (header or "").strip().lower()
    if encoding in _IDENTITY or encoding in _WBITS:
        return encoding
    raise UnsupportedEncoding(f"Content-Encoding {(header or '')[:100]!r} is not supported; "
                              f"send gzip, deflate or none")


class MemoryBudget:
    """Bytes of request bodies (raw and decompressed) held at once by all requests together.

    Thread-safe: bodies arrive on the event loop and inflate in worker threads.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        #: The most ever held at once: what the load task and the tests report.
        self.high_water = 0
        self._since_trim = 0
        self._lock = threading.Lock()

    def lease(self) -> Lease:
        """One request's share, given back in full when the lease closes."""
        return Lease(self)

    def _take(self, size: int) -> bool:
        with self._lock:
            if self.in_use + size > self.capacity:
                return False
            self.in_use += size
            self.high_water = max(self.high_water, self.in_use)
            return True

    def _give(self, size: int) -> None:
        with self._lock:
            self.in_use -= size
            self._since_trim += size
            trim = self.in_use == 0 and self._since_trim >= _TRIM_AFTER
            if trim:
                self._since_trim = 0
        if trim:
            _return_free_memory()


class Lease:
    """What one request holds of a :class:`MemoryBudget`; a context manager that gives it all back."""

    def __init__(self, budget: MemoryBudget) -> None:
        self._budget = budget
        self.held = 0

    def take(self, size: int) -> None:
        """Hold ``size`` more bytes, or raise :class:`OverBudget` (holding nothing more)."""
        if not self._budget._take(size):
            raise OverBudget(f"the sink's memory budget of {self._budget.capacity} bytes for request bodies "
                             f"is in use by other requests; retry later")
        self.held += size

    def give(self, size: int) -> None:
        """Give back ``size`` bytes no longer held (a buffer dropped before the request ends)."""
        size = min(size, self.held)
        self.held -= size
        self._budget._give(size)

    def close(self) -> None:
        self.give(self.held)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class BodyPace:
    """When a body must have arrived: by ``timeout`` seconds after the request began, and,
    after the first ``grace`` seconds, at ``min_rate`` bytes per second on average.

    The rule is Apache mod_reqtimeout's: each byte received extends the deadline by
    ``1 / min_rate`` seconds, so a fast client is never cut off before ``timeout`` and a
    trickle is cut off soon after the grace period. ``min_rate`` 0 leaves only ``timeout``.
    """

    timeout: float
    min_rate: float
    grace: float

    def deadline(self, began: float, received: int) -> float:
        if self.min_rate <= 0:
            return began + self.timeout
        return began + min(self.timeout, self.grace + received / self.min_rate)


async def read_body(chunks: AsyncIterator[bytes], limit: int, *, drain: int, lease: Lease,
                    pace: BodyPace, began: float) -> bytes:
    """The raw body, every byte of it taken from ``lease`` before it is kept.

    Refusals: :class:`BodyTooLarge` once it passes ``limit`` bytes, :class:`OverBudget` when
    the budget cannot hold the next chunk, :class:`BodyTooSlow` when it misses its
    :class:`BodyPace` deadline. After a size or budget refusal the rest is read and dropped
    (up to ``drain`` more bytes, within the same deadline), so the client finishes sending
    and reads the answer instead of meeting a reset connection.
    """
    parts: list[bytes] = []
    size = 0
    refusal: BodyError | None = None
    iterator = aiter(chunks)
    while True:
        chunk = None
        with anyio.move_on_at(pace.deadline(began, size)):
            chunk = await anext(iterator, b"")
        if chunk is None:  # the deadline passed while waiting for the next chunk
            parts.clear()
            raise refusal or BodyTooSlow(
                f"request body too slow: {size} bytes arrived before the deadline "
                f"(at most {pace.timeout:g} s, and at least {pace.min_rate:g} bytes/s "
                f"after the first {pace.grace:g} s)")
        if not chunk:
            break
        size += len(chunk)
        if refusal is None and size > limit:
            refusal = BodyTooLarge(f"request body is larger than the limit of {limit} bytes")
        if refusal is None:
            try:
                lease.take(len(chunk))
            except OverBudget as error:
                refusal = error
        if refusal is None:
            parts.append(chunk)
        elif size > limit + drain:
            break
        else:
            lease.give(sum(map(len, parts)))
            parts.clear()
    if refusal is not None:
        parts.clear()
        raise refusal
    if len(parts) == 1:
        return parts[0]
    lease.take(size)  # the joined copy, while the parts still exist
    body = b"".join(parts)
    parts.clear()
    lease.give(size)
    return body


def decompress_bounded(data: bytes, encoding: str, limit: int, lease: Lease | None = None) -> bytes:
    """``data`` decoded per its Content-Encoding, never producing more than ``limit`` bytes,
    each step's output taken from ``lease`` (if given) before it is produced.

    Concatenated gzip members (RFC 1952) are all decoded; a stream that stops early
    (truncated) or carries garbage is a 400.
    """
    if encoding in _IDENTITY:
        if len(data) > limit:
            raise BodyTooLarge(f"request body is larger than the limit of {limit} bytes")
        return data
    out: list[bytes] = []
    try:
        _inflate(data, encoding, limit, lease, out)
    except BodyError:
        out.clear()  # the output is dropped now, not when the error's traceback goes
        raise
    produced = sum(map(len, out))
    if lease is not None:
        lease.take(produced)  # the joined copy
    body = b"".join(out)
    out.clear()
    if lease is not None:
        lease.give(produced)
    return body


def _inflate(data: bytes, encoding: str, limit: int, lease: Lease | None,
             out: list[bytes]) -> None:
    """Append ``data``'s inflated pieces to ``out``, or raise the refusal."""
    produced = 0
    rest = data
    while True:
        inflater = zlib.decompressobj(_WBITS[encoding])
        pending = rest
        while True:
            # Output is capped at one byte past the limit: reaching the cap means "too large",
            # and staying under it means every byte the input holds was produced.
            step = min(_INFLATE_STEP, limit - produced + 1)
            if lease is not None:
                lease.take(step)
            try:
                piece = inflater.decompress(pending, step)
            except zlib.error as error:
                if lease is not None:
                    lease.give(step)
                raise BodyError(f"request body is not valid {encoding} data: {error}") from None
            if lease is not None:
                lease.give(step - len(piece))
            produced += len(piece)
            if produced > limit:
                raise BodyTooLarge(f"request body inflates past the limit of {limit} bytes")
            out.append(piece)
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and not piece):
                break
        if not inflater.eof:
            raise BodyError(f"{encoding} request body is truncated (the stream ends before its end marker)")
        rest = inflater.unused_data
        if not rest:
            return
        if encoding == "deflate":
            raise BodyError(f"{len(rest)} bytes of garbage after the deflate stream")
