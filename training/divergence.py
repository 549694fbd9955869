"""Telling a diverged run from a few unlucky steps, and which checkpoint is still good.

A step whose loss or gradients are not finite is skipped by the trainer; ``limit`` of them in a row mean
the run has diverged. A checkpoint counts as good once a finite step has followed it: the weights of the
checkpoint taken just before the first NaN are usually the ones that led to it (a too-high learning rate
makes one finite step that wrecks the weights).
"""
from __future__ import annotations

from pathlib import Path


class TrainingDiverged(RuntimeError):
    """The run stopped because its steps kept being non-finite; the message names the last good checkpoint."""


class DivergenceGuard:
    """Counts non-finite steps in a row and remembers the newest good checkpoint of the run."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.streak = 0                        # non-finite steps in a row
        self.last_good: Path | None = None     # newest checkpoint a finite step has followed
        self.unconfirmed: Path | None = None   # newest checkpoint, until a finite step follows it

    def saved(self, path: Path) -> None:
        """A checkpoint was written (or resumed from): good once the next finite step comes."""
        self.unconfirmed = path

    def step(self, skipped: bool) -> bool:
        """Account for one step; True when the run has now diverged."""
        self.streak = self.streak + 1 if skipped else 0
        if not skipped and self.unconfirmed is not None:
            self.last_good, self.unconfirmed = self.unconfirmed, None
        return self.streak >= self.limit

    def suspect(self, checkpoints: list[Path]) -> list[Path]:
        """The checkpoints newer than the last good one (their weights led to the non-finite steps)."""
        if self.last_good is None:
            return []
        return [p for p in checkpoints if p.name > self.last_good.name]

    def error(self, iteration: int, out: str, lr: float, renamed: bool) -> TrainingDiverged:
        """The error that stops the run: what happened, the last good checkpoint, what to try."""
        first = iteration - self.streak + 1
        aside = " (newer ones renamed *.diverged)" if renamed else ""
        where = (f"The last good checkpoint is {self.last_good}{aside}: `rainmamba train --out {out} --resume "
                 "--lr LOWER` continues from it" if self.last_good is not None else
                 "No checkpoint before it is good (a finite step followed none): start again")
        return TrainingDiverged(
            f"Training diverged: iterations {first}-{iteration} ({self.streak} in a row, --max-bad-steps "
            f"{self.limit}) had a non-finite loss or gradients, so the run stopped and exported nothing. "
            f"{where}. Try a lower --lr (this run: {lr:g}), --clip-grad 1, or --amp off.")
