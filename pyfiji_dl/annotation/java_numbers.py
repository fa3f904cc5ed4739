"""Java's number rules, for the ImageJ ports: threshold methods, CLAHE, ROI rasterisation.

A port gives ImageJ's pixels only if it also rounds, truncates and overflows as Java
does (The Java Language Specification, 5.1.3 and 15.17; ``java.lang.Math.round``):

* ``(float)`` of a double rounds to float32 (:func:`f32`);
* ``(int)`` of a double truncates toward zero, maps NaN to 0 and saturates at
  ``Integer.MIN_VALUE`` / ``MAX_VALUE`` (:func:`d2i`, :func:`d2i_array`, and
  :func:`jit_d2i` inside numba code), where NumPy's ``astype`` is undefined;
* ``int`` arithmetic wraps around in two's complement (:func:`wrap_int32`) and ``int``
  division truncates toward zero (:func:`int_div`), where Python floors;
* double division by zero gives infinity or NaN (:func:`double_div`), where Python raises;
* ``Math.round(x)`` is ``floor(x + 1/2)``, halves up (:func:`math_round`,
  :func:`jit_math_round`), where Python rounds halves to even.

The ``jit_`` helpers are numba functions for the ports' compiled loops.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

INT_MIN, INT_MAX = -(2**31), 2**31 - 1

__all__ = ["INT_MAX", "INT_MIN", "ceil_int", "d2i", "d2i_array", "double_div", "f32", "floor_int", "int_div",
           "jit_d2i", "jit_math_round", "math_round", "wrap_int32"]


def f32(value: float) -> float:
    """Round a double to float and back, like Java's ``(float)`` cast."""
    return float(np.float32(value))


def d2i(value) -> int:
    """Java's ``(int)`` cast of a double: truncate toward 0, NaN -> 0, saturate."""
    value = float(value)
    if math.isnan(value):
        return 0
    if value >= INT_MAX:
        return INT_MAX
    if value <= INT_MIN:
        return INT_MIN
    return int(value)


def d2i_array(values: np.ndarray) -> np.ndarray:
    """Element-wise :func:`d2i`, as int64."""
    values = np.asarray(values, dtype=np.float64)
    out = np.trunc(np.nan_to_num(values, nan=0.0, posinf=INT_MAX, neginf=INT_MIN))
    return np.clip(out, INT_MIN, INT_MAX).astype(np.int64)


@njit(cache=True, inline="always")
def jit_d2i(x):
    """Java's ``(int) x`` for a float or double inside numba code: NaN -> 0, saturating."""
    if x != x:
        return 0
    if x >= 2147483647.0:
        return 2147483647
    if x <= -2147483648.0:
        return -2147483648
    return int(x)


def floor_int(value: float) -> int:
    """``(int)Math.floor(value)``."""
    return d2i(math.floor(value)) if math.isfinite(value) else d2i(value)


def ceil_int(value: float) -> int:
    """``(int)Math.ceil(value)``."""
    return d2i(math.ceil(value)) if math.isfinite(value) else d2i(value)


def math_round(value) -> int:
    """Java's ``Math.round(double)``: nearest integer, halves up, NaN -> 0, infinities saturate to ``int``."""
    value = float(value)
    if math.isnan(value):
        return 0
    if math.isinf(value):
        return INT_MAX if value > 0 else INT_MIN
    low = math.floor(value)
    return int(low + 1 if value - low >= 0.5 else low)


@njit(cache=True)
def jit_math_round(value):
    """:func:`math_round` of a finite value inside numba code (``floor(value + 1/2)`` without its rounding error)."""
    if value != value:
        return 0
    fl = np.floor(value)
    if value - fl >= 0.5:
        fl += 1.0
    return int(fl)


def wrap_int32(values):
    """Two's-complement wrap of int64 values to Java ``int`` (overflowing sums and products)."""
    values = np.asarray(values, dtype=np.int64)
    return ((values + 2**31) % 2**32) - 2**31


def int_div(a: int, b: int) -> int:
    """Java ``int`` division (truncates toward zero)."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def double_div(a: float, b: float) -> float:
    """Java double division, which yields inf/NaN where Python raises."""
    if b == 0.0:
        if a != a or a == 0.0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b
