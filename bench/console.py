"""How the benchmark prints: a timestamped progress line per measurement, and
one figure of the summary table (two decimals by default, "-" for none)."""

from __future__ import annotations

import time
from typing import Any


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
