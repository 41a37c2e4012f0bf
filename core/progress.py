"""A tiny progress/cancel protocol, so the engine never needs QgsProcessingFeedback.

The Processing layer adapts QgsProcessingFeedback onto ``Progress``; scripts can pass
``NullProgress()`` or their own object. Long loops call ``progress.check()`` once per tile
or batch: that is where cancellation takes effect, and it is always between writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

from .errors import Cancelled

T = TypeVar("T")


@runtime_checkable
class Progress(Protocol):
    def set_fraction(self, fraction: float) -> None:
        """Overall completion in [0, 1]."""

    def is_canceled(self) -> bool: ...

    def info(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...


class NullProgress:
    """Progress that reports nothing and is never cancelled (scripts, tests)."""

    def set_fraction(self, fraction: float) -> None:
        pass

    def is_canceled(self) -> bool:
        return False

    def info(self, text: str) -> None:
        pass

    def warning(self, text: str) -> None:
        pass


class RecordingProgress(NullProgress):
    """Keeps what was reported; handy in scripts and tests, and cancellable on demand."""

    def __init__(self, cancel_after_checks: int | None = None):
        self.fractions: list[float] = []
        self.messages: list[str] = []
        self.warnings: list[str] = []
        self._checks = 0
        self._cancel_after = cancel_after_checks

    def set_fraction(self, fraction: float) -> None:
        self.fractions.append(fraction)

    def is_canceled(self) -> bool:
        self._checks += 1
        return self._cancel_after is not None and self._checks > self._cancel_after

    def info(self, text: str) -> None:
        self.messages.append(text)

    def warning(self, text: str) -> None:
        self.warnings.append(text)


class SubProgress:
    """Maps a child task's [0, 1] onto the span [start, end] of its parent's progress."""

    def __init__(self, parent: Progress, start: float, end: float):
        self.parent, self.start, self.end = parent, start, end

    def set_fraction(self, fraction: float) -> None:
        f = min(max(fraction, 0.0), 1.0)
        self.parent.set_fraction(self.start + (self.end - self.start) * f)

    def is_canceled(self) -> bool:
        return self.parent.is_canceled()

    def info(self, text: str) -> None:
        self.parent.info(text)

    def warning(self, text: str) -> None:
        self.parent.warning(text)


def check(progress: Progress) -> None:
    """Raise Cancelled if the user asked to stop."""
    if progress.is_canceled():
        raise Cancelled()


def track(items: Iterable[T], progress: Progress, total: int) -> Iterator[T]:
    """Yield items, checking for cancel before each and reporting the fraction after each."""
    total = max(total, 1)
    for done, item in enumerate(items):
        check(progress)
        yield item
        progress.set_fraction((done + 1) / total)
