"""One-line errors for the command line: what went wrong and what to do about it.

Every command may raise :class:`CommandError` with a sentence naming the problem and the fix;
:func:`explain` turns the other failures a command can meet on bad input (a path that does not
exist, a port that is taken, a missing optional extra) into such a sentence too, so
``cli.main`` is the single place that prints them and exits 2, and no user ever sees a
traceback. ``GATEWAY_CONFORMANCE_DEBUG=1`` re-raises instead, for the harness's own bugs.
"""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

DEBUG_ENV = "GATEWAY_CONFORMANCE_DEBUG"
USAGE_EXIT = 2

# The optional module -> the extra that installs it (pyproject.toml).
EXTRAS = {"pyspark": "spark", "delta": "spark", "pandas": "spark", "playwright": "report",
          "testcontainers": "containers"}

_OS_FIXES = {
    errno.ENOENT: "check the path (relative paths start in {cwd})",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EEXIST: "it exists and is not a folder: give a folder",
    errno.EISDIR: "it is a folder: give a file",
    errno.EACCES: "check its permissions or choose a folder you can write",
    errno.EPERM: "check its permissions or choose a folder you can write",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.ENOSPC: "the disk is full: free some space or choose another folder",
}


class CommandError(Exception):
    """A bad invocation: the message is one sentence with the problem and the fix."""


def explain(exc: BaseException) -> str | None:
    """The one-line message for a failure caused by the user's input, or None (a bug)."""
    from gateway_conformance.server import BindError

    if isinstance(exc, CommandError):
        return str(exc)
    if isinstance(exc, BindError):
        return str(exc.strerror)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        extra = EXTRAS.get(top)
        install = (f"pip install 'gateway-conformance[{extra}]'" if extra
                   else "reinstall gateway-conformance (pip install --force-reinstall gateway-conformance)")
        return f"the Python module {top} is not installed: {install}"
    if isinstance(exc, ImportError) and "pip install" in str(exc):
        return str(exc)  # a module that already says which extra to install (e.g. otlp.spark)
    if isinstance(exc, OSError) and exc.errno in _OS_FIXES:
        where = f"{exc.filename}: " if exc.filename else ""
        fix = _OS_FIXES[exc.errno].format(cwd=Path.cwd())
        return f"{where}{exc.strerror or exc}; {fix}"
    return None


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (problem, then where to read more), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE_EXIT, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def port(value: str) -> int:
    """An argparse type: a TCP port, 0 meaning "any free one"."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number: give 0 to 65535") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port: give 0 (any free port) to 65535")
    return number


def positive_or_zero(value: str) -> float:
    """An argparse type for a factor such as ``--speed``: a number >= 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: give 0 or more")
    return number
