"""The management commands' progress bar: one line on stderr, redrawn in place.

On a terminal the bar is redrawn at most ten times a second; elsewhere (a
log, a pipe, a test) each finished unit is one plain line instead.
"""

from __future__ import annotations

import time
from typing import Any

BAR_WIDTH = 30


class Progress:
    """Units of work (people, firms, periods), each made of smaller steps."""

    def __init__(
        self, stream: Any, total: int, *, units: str = "people", steps: str = "days"
    ) -> None:
        self.stream = stream  # a management command's OutputWrapper
        self.total = total
        self.units = units
        self.steps = steps
        self.done = 0
        self.stepped = 0
        self.tty = stream.isatty()
        self._drawn = 0.0

    def _write(self, text: str) -> None:
        self.stream.write(text, ending="")
        self.stream.flush()

    def step(self, label: str, note: str) -> None:
        self.stepped += 1
        now = time.monotonic()
        if self.tty and now - self._drawn > 0.1:
            self._draw(f"{label} {note}")
            self._drawn = now

    def finished(self, label: str, summary: str = "checked") -> None:
        self.done += 1
        if self.tty:
            self._draw(label)
        else:
            self._write(f"[{self.done}/{self.total}] {label}: {summary}\n")

    def close(self) -> None:
        if self.tty:
            self._write("\n")

    def _draw(self, note: str) -> None:
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = (
            f"\r[{bar}] {self.done}/{self.total} {self.units}, "
            f"{self.stepped} {self.steps} · {note}"
        )
        self._write(line[:119].ljust(119))
