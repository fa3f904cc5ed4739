"""Numbers on the command line: out-of-range values are refused when it is read, never changed.

argparse types shared by ``pyfiji-dl``'s commands and the model families' training
options: ``--epochs 0``, ``--steps -1``, ``--batch 0`` or ``--threshold 1.5`` stop with
a usage message naming the option (exit code 2) before anything is read or written.
(``--channel`` stays a plain int: :func:`pyfiji_dl.io.tiff.select_channel` names the
file and its channels, numbered from 1 as in Fiji.)
"""

from __future__ import annotations

import argparse


def number(kind, test, what: str):
    """An argparse type: ``kind(text)`` that passes ``test``, else an error saying what it must be."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what}")
        return value
    return parse


positive_int = number(int, lambda v: v >= 1, "a whole number of 1 or more")
nonnegative_int = number(int, lambda v: v >= 0, "a whole number of 0 or more")
positive_float = number(float, lambda v: v > 0, "a number more than 0")
nonnegative_float = number(float, lambda v: v >= 0, "a number of 0 or more")
probability = number(float, lambda v: 0 < v < 1, "a probability between 0 and 1")
fraction = number(float, lambda v: 0 <= v < 1, "a fraction from 0 up to (not including) 1")
