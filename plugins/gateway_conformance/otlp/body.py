"""Reading an OTLP/HTTP request body with hard bounds: raw size, then size after decompression.

Why bounded streaming: a body is only ever held up to the limit, and a gzip bomb (a few KiB
inflating to gigabytes) is stopped as soon as its output passes the limit, so a hostile or
broken client costs at most ``limit`` bytes of memory, never the inflated size.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

#: Content-Encoding -> zlib window bits. OTLP requires gzip; deflate (zlib format) is what
#: the OpenTelemetry SDKs send when configured with ``Compression.Deflate``.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_IDENTITY = ("", "identity")


class BodyError(Exception):
    """A body the sink refuses; ``status`` is the HTTP status to answer with."""

    status = 400


class BodyTooLarge(BodyError):
    status = 413


class UnsupportedEncoding(BodyError):
    status = 415


def supported_encoding(header: str | None) -> str:
    """The normalized Content-Encoding, or :class:`UnsupportedEncoding`."""
    encoding = (header or "").strip().lower()
    if encoding in _IDENTITY or encoding in _WBITS:
        return encoding
    raise UnsupportedEncoding(f"Content-Encoding {header!r} is not supported; send gzip, deflate or none")


async def read_bounded(chunks: AsyncIterator[bytes], limit: int, *, drain: int) -> bytes:
    """The raw body, or :class:`BodyTooLarge` once it passes ``limit`` bytes.

    Past the limit the rest is read and dropped (up to ``drain`` more bytes), so the client
    finishes sending and reads the 413 instead of meeting a reset connection.
    """
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size <= limit:
            parts.append(chunk)
        elif size > limit + drain:
            break
    if size > limit:
        raise BodyTooLarge(f"request body is larger than the limit of {limit} bytes")
    return b"".join(parts)


def decompress_bounded(data: bytes, encoding: str, limit: int) -> bytes:
    """``data`` decoded per its Content-Encoding, never producing more than ``limit`` bytes.

    Concatenated gzip members (RFC 1952) are all decoded; a stream that stops early
    (truncated) or carries garbage is a 400.
    """
    if encoding in _IDENTITY:
        if len(data) > limit:
            raise BodyTooLarge(f"request body is larger than the limit of {limit} bytes")
        return data
    out: list[bytes] = []
    produced = 0
    rest = data
    while True:
        inflater = zlib.decompressobj(_WBITS[encoding])
        try:
            # Output is capped at one byte past the limit: reaching the cap means "too large",
            # and staying under it means every byte the input holds was produced.
            piece = inflater.decompress(rest, limit - produced + 1)
        except zlib.error as error:
            raise BodyError(f"request body is not valid {encoding} data: {error}") from None
        produced += len(piece)
        if produced > limit:
            raise BodyTooLarge(f"request body inflates past the limit of {limit} bytes")
        out.append(piece)
        if not inflater.eof:
            raise BodyError(f"{encoding} request body is truncated (the stream ends before its end marker)")
        rest = inflater.unused_data
        if not rest:
            return b"".join(out)
        if encoding == "deflate":
            raise BodyError(f"{len(rest)} bytes of garbage after the deflate stream")
