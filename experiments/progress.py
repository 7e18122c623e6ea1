"""Progress display for long commands: a bar on a terminal, a periodic line in a log.

On a terminal (stderr is a tty) `Progress` draws a tqdm bar. Anywhere else (a SLURM log,
``nohup``, a CI job, a pipe) a redrawn bar would fill the log with carriage returns, so
it writes one plain line at most every `interval` seconds instead::

    relsim: sweep chaos-1d: 1,200/4,400 runs (27%), 2m10s elapsed, 9.2 runs/s, ~5m48s left

and a last line when it finishes (only if it wrote one before, so short commands stay
silent). The interval is `DEFAULT_INTERVAL_S`, or ``RELSIM_PROGRESS_INTERVAL`` seconds
from the environment. ``enabled=False`` (``--quiet``) shows nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Any

#: Seconds between two progress lines in a log (not a terminal).
DEFAULT_INTERVAL_S = 60.0
INTERVAL_ENV = "RELSIM_PROGRESS_INTERVAL"


def _interval() -> float:
    raw = os.environ.get(INTERVAL_ENV)
    try:
        return max(float(raw), 0.0) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def is_terminal(stream: IO[str] | None) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Progress of ``total`` steps (or an open-ended count when ``total`` is None).

    Args:
        desc: What is progressing (``sweep chaos-1d``).
        total: Number of steps, if known.
        unit: Name of a step (``run``, ``target``, ``point``).
        enabled: False shows nothing at all.
        stream: Where to write (default stderr).
        interval: Seconds between log lines off a terminal (default from the environment,
            else `DEFAULT_INTERVAL_S`).
        terminal: Force the terminal (True) or log (False) mode; default: detect.
    """

    def __init__(self, desc: str, total: int | None = None, *, unit: str = "step",
                 enabled: bool = True, stream: IO[str] | None = None,
                 interval: float | None = None, terminal: bool | None = None) -> None:
        self.desc, self.total, self.unit, self.enabled = desc, total, unit, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interval = _interval() if interval is None else interval
        self.terminal = is_terminal(self.stream) if terminal is None else terminal
        self.n = 0
        self.label = ""
        self.started = time.monotonic()
        self._last_line = self.started
        self._lines = 0
        self._bar: Any = None
        if enabled and self.terminal:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream,
                             dynamic_ncols=True, smoothing=0.05, mininterval=0.5)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, label: str | None = None) -> None:
        """Count ``n`` more steps done; ``label`` names the current one."""
        self.n += n
        if label is not None:
            self.label = label
        if not self.enabled:
            return
        if self._bar is not None:
            if label is not None:
                self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._write(self.line(now))

    def set_postfix(self, refresh: bool = False, **values: object) -> None:
        """Show ``key=value`` pairs beside the count (tqdm's interface)."""
        self.label = ", ".join(f"{k}={v}" for k, v in values.items())
        if self._bar is not None:
            self._bar.set_postfix(refresh=refresh, **values)

    def step(self, label: str | None = None) -> None:
        """Count one step begun, named ``label`` (a callback for `analyze` and `report`)."""
        self.update(1, label)

    def line(self, now: float | None = None) -> str:
        """The one-line progress text of a log."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        count = self.total or self.n
        unit = self.unit if count == 1 else f"{self.unit}s"
        text = f"relsim: {self.desc}: {self.n:,}"
        if self.total:
            share = self.n / self.total
            text += f"/{self.total:,} {unit} ({share:.0%})"
        else:
            text += f" {unit}"
        text += f", {_duration(elapsed)} elapsed"
        if rate > 0:
            text += f", {rate:.3g} {self.unit}s/s"
            if self.total and self.n < self.total:
                text += f", ~{_duration((self.total - self.n) / rate)} left"
        if self.label:
            text += f" [{self.label}]"
        return text

    def _write(self, text: str) -> None:
        self._lines += 1
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Close the bar; in a log, write a final line if any line was written."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self._lines:
            self._write(self.line() + " - done")
