"""Watching a run: iteration, loss, lr, it/s and ETA — a rich progress bar in a terminal, else plain lines.

Plain lines (not a TTY: nohup logs, CI, Slurm) are written at most every ``every_s`` seconds and at the end,
e.g. ``[fsrcnn ×4 short] it 1,200/20,000 (6.0%) loss 0.00123 lr 1e-03 18.3 it/s ETA 0:17:06``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta


def eta_text(seconds: float) -> str:
    """How long is left, as every progress line writes it (``0:17:06``); also the evaluator's."""
    return str(timedelta(seconds=round(seconds)))


def _eta(remaining: int, rate: float) -> str:
    return eta_text(remaining / rate) if rate > 0 else "?"


class Progress:
    def __init__(self, label: str, total: int, start: int, *, enabled: bool = True, every_s: float = 10.0,
                 write: Callable[[str], None] | None = None, rich: bool | None = None):
        self.label, self.total, self.enabled, self.every_s = label, total, enabled, every_s
        self.write = write or (lambda s: print(s, file=sys.stderr, flush=True))
        self.use_rich = enabled and (sys.stderr.isatty() if rich is None else rich) and write is None
        self._last = 0.0
        self._bar = None
        if self.use_rich:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), transient=False)
            self._task = self._bar.add_task(label, total=total, completed=start, stats="")
            self._bar.start()

    def line(self, it: int, loss: float, lr: float, rate: float) -> str:
        return (f"[{self.label}] it {it:,}/{self.total:,} ({100 * it / self.total:.1f}%) loss {loss:.5g} "
                f"lr {lr:.3g} {rate:.1f} it/s ETA {_eta(self.total - it, rate)}")

    def update(self, it: int, loss: float, lr: float, rate: float, force: bool = False) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=it, stats=f"loss {loss:.5g} lr {lr:.3g} {rate:.1f} it/s")
            return
        now = time.monotonic()
        if force or now - self._last >= self.every_s:
            self._last = now
            self.write(self.line(it, loss, lr, rate))

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            self.write(f"[{self.label}] {text}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
