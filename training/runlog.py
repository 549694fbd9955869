"""What a training run reports: a progress bar, per-iteration JSONL and CSV, TensorBoard when installed.

Only rank 0 creates a :class:`RunLog`; other ranks get :class:`NullLog`. On resume, records past the
resumed iteration (written after the last checkpoint by the interrupted run) are dropped from the files so
the logs read as one clean run. A log file the disk refuses is a :class:`~models.atomic.WriteError` naming it.
"""
from __future__ import annotations

import contextlib
import csv
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from models.atomic import WriteError, write_atomic

CSV_COLUMNS = ("iteration", "lr", "loss", "charbonnier", "perceptual", "dcll", "grad_norm", "skipped", "seconds")


def _truncate_records(path: Path, after: int, is_csv: bool) -> None:
    """Keep only the records of iterations <= ``after`` in a JSONL or CSV log."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if is_csv:
        header, body = lines[:1], lines[1:]
        kept = header + [line for line in body if line.split(",", 1)[0].isdigit() and int(line.split(",", 1)[0]) <= after]
    else:
        kept = []
        for line in lines:
            try:
                if int(json.loads(line)["iteration"]) <= after:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill
    if len(kept) != len(lines):
        write_atomic(path, "".join(kept))


def _quiet_tensorboard_thread_errors() -> None:
    """Keep the traceback of TensorBoard's writer thread off the console when the disk refuses its events.

    TensorBoard writes events in a thread of its own; an OSError there (a full disk) ends the thread, and
    its next call in the training thread raises the same error, which this log turns into one line naming
    the folder. The thread's traceback would only say it first, and from deep inside TensorBoard.
    """
    previous = threading.excepthook
    if getattr(previous, "_rainmamba_tensorboard", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if not (isinstance(args.exc_value, OSError) and type(args.thread).__name__ == "_AsyncWriterThread"):
            previous(args)
    hook._rainmamba_tensorboard = True  # type: ignore[attr-defined]
    threading.excepthook = hook


class NullLog:
    """The log of ranks other than 0: accepts everything, writes nothing."""

    def info(self, message: str, console: bool = True) -> None:
        pass

    def record(self, iteration: int, values: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class RunLog(NullLog):
    """Rank 0's log in ``run_dir``: train.log (messages), log.jsonl and log.csv (one record per logged step)."""

    def __init__(self, run_dir: str | Path, total: int, start: int = 0, progress: bool = True,
                 tensorboard: bool = True) -> None:
        self.dir = Path(run_dir)
        self.jsonl_path, self.csv_path, self.text_path = self.dir / "log.jsonl", self.dir / "log.csv", self.dir / "train.log"
        self._jsonl = self._csv_file = self._text = None
        with self._writing(self.dir):
            self.dir.mkdir(parents=True, exist_ok=True)
        _truncate_records(self.jsonl_path, start, is_csv=False)
        _truncate_records(self.csv_path, start, is_csv=True)
        new_csv = not self.csv_path.is_file() or self.csv_path.stat().st_size == 0
        with self._writing(self.jsonl_path):
            self._jsonl = self.jsonl_path.open("a")
        with self._writing(self.csv_path):
            self._csv_file = self.csv_path.open("a", newline="")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            if new_csv:
                self._csv.writeheader()
        with self._writing(self.text_path):
            self._text = self.text_path.open("a")
        self._bar = tqdm(total=total, initial=start, unit="it", dynamic_ncols=True, disable=not progress,
                         file=sys.stderr)
        self._writer = None
        self._tensorboard_failed = False
        self.tensorboard_dir = self.dir / "tensorboard"
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.info("TensorBoard is not installed: logging to log.jsonl and log.csv only.")
            else:
                try:
                    with self._writing(self.tensorboard_dir):
                        self._writer = SummaryWriter(str(self.tensorboard_dir), purge_step=start + 1)
                except BaseException:
                    self.close()
                    raise
                _quiet_tensorboard_thread_errors()
        self._started = time.time()

    @staticmethod
    @contextlib.contextmanager
    def _writing(path: Path):
        try:
            yield
        except WriteError:
            raise
        except OSError as err:
            raise WriteError(path, err) from None

    def info(self, message: str, console: bool = True) -> None:
        """A line for the user (above the progress bar; ``console`` False: the file only) and for train.log."""
        if console:
            self._bar.write(message, file=sys.stderr)
        with self._writing(self.text_path):
            self._text.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
            self._text.flush()

    def record(self, iteration: int, values: dict[str, Any]) -> None:
        row = {"iteration": iteration, **values, "seconds": round(time.time() - self._started, 3)}
        with self._writing(self.jsonl_path):
            self._jsonl.write(json.dumps(row) + "\n")
            self._jsonl.flush()
        with self._writing(self.csv_path):
            self._csv.writerow(row)
            self._csv_file.flush()
        if self._writer is not None:
            try:
                for key, value in values.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        self._writer.add_scalar(f"train/{key}", value, iteration)
            except OSError as err:
                self._tensorboard_failed = True
                raise WriteError(self.tensorboard_dir, err) from None
        self._bar.set_postfix(loss=f"{values.get('loss', float('nan')):.4f}", lr=f"{values.get('lr', 0):.2e}",
                              refresh=False)
        self._bar.update(iteration - self._bar.n)

    def close(self) -> None:
        self._bar.close()
        for handle in (self._jsonl, self._csv_file, self._text):
            if handle is not None:
                try:
                    handle.close()
                except OSError:
                    pass  # a full disk refusing the last flush: the write that failed already said so
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except OSError as err:  # the run's own outcome is reported by the caller; this is a side log
                if not self._tensorboard_failed:  # (if it is what failed, the caller says so)
                    sys.stderr.write(f"Warning: {WriteError(self.tensorboard_dir, err)} The TensorBoard events may "
                                     f"be incomplete; log.jsonl and log.csv have every record.\n")
