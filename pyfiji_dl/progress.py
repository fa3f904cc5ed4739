"""Progress within one input (the frames of a time-lapse, the slices of a stack) for a listener.

Folder-level progress is a tqdm bar on standard error; inside one input the code calls
:func:`report` after each plane, which costs nothing when nobody listens. The warm
worker (:mod:`pyfiji_dl.worker`) listens to show the progress in Fiji's status bar, and
to stop a cancelled job between two planes.
"""

from __future__ import annotations

import contextlib

_listeners: list = []


def report(done: int, total: int, what: str) -> None:
    """``done`` of ``total`` ``what`` (e.g. ``"frame"``) of the current input are finished."""
    for listener in tuple(_listeners):
        listener(done, total, what)


def listened() -> bool:
    """Whether anybody listens (so that costly reporting can be left out otherwise)."""
    return bool(_listeners)


@contextlib.contextmanager
def listening(listener):
    """Call ``listener(done, total, what)`` for every :func:`report` inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
