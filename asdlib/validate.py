"""Checks for settings read from files and the environment: a whole number, a finite number in a range.

Every setting a run reads (``engine.config``, ``nets.model.ModelConfig``) passes through these,
so a bad value is refused when the configuration is loaded, with a message that names the
setting and what it expects, before a run folder is made. Explained in notebook 03_training.
"""

from __future__ import annotations

import math


def check_whole(key: str, value, minimum: int = 0, *, optional: bool = False) -> None:
    """Refuse a setting that is not a whole number >= ``minimum`` (``None`` too where ``optional``). Notebook 03."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} = {value!r}: expected a whole number >= {minimum}"
                         + (" (or leave it out)" if optional else "") + ", e.g. 2, not \"2\" or 2.5")


def check_number(key: str, value, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False) -> None:
    """Refuse a setting that is not a finite number in the given range. Notebook 03."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        rng = " and ".join(x for x in (lo, hi) if x)
        raise ValueError(f"{key} = {value!r}: expected a finite number" + (f" {rng}" if rng else ""))


__all__ = ["check_number", "check_whole"]
