"""The processes this package owns keep large tensors on glibc's heap (models/memory.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from models import memory

ROOT = Path(__file__).resolve().parents[2]

# Bytes in mmapped blocks (mallinfo2's hblkhd) before and after a 64 MB allocation, in a fresh process.
PROBE = """
import ctypes, sys
import numpy as np
from models.memory import glibc, keep_large_tensors_on_the_heap, large_tensors_kept_on_the_heap

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = glibc()
libc.mallinfo2.restype = Info
applied = keep_large_tensors_on_the_heap() if sys.argv[1] == "apply" else None
before = libc.mallinfo2().hblkhd
block = np.ones(64 << 20, np.uint8)
after = libc.mallinfo2().hblkhd
del block
print(applied, large_tensors_kept_on_the_heap(), after - before)
"""


def _probe(mode: str, **env: str) -> tuple[str, str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, cwd=ROOT,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, check=True)
    applied, kept, mapped = done.stdout.split()
    return applied, kept, int(mapped)


needs_glibc = pytest.mark.skipif(memory.glibc() is None or not hasattr(memory.glibc(), "mallinfo2"),
                                 reason="glibc 2.33+ only")


@needs_glibc
def test_a_large_allocation_is_mapped_by_default_and_taken_from_the_heap_once_applied():
    assert _probe("default") == ("None", "False", pytest.approx(64 << 20, rel=0.01))
    assert _probe("apply") == ("True", "True", 0)


@needs_glibc
def test_the_users_own_glibc_tuning_is_kept():
    applied, kept, mapped = _probe("apply", MALLOC_MMAP_THRESHOLD_="1048576")
    assert applied == kept == "False" and mapped >= 64 << 20


def test_the_rainmamba_command_applies_it_before_its_subcommands(monkeypatch):
    from models import cli

    calls = []
    monkeypatch.setattr(memory, "keep_large_tensors_on_the_heap", lambda: calls.append(1) or True)
    result = CliRunner().invoke(cli.main, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert calls == [1]
