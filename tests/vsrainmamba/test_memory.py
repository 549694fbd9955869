"""Rendering from Python keeps resident memory flat: the filter trims the heap every few frames."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

import vsrainmamba.filter as filter_module
from tests.conftest import IdentityNet
from tests.vsrainmamba.helpers import REPO, clip_from_array, shots_video
from vsrainmamba import derain
from vsrainmamba.memory import HeapTrimmer, find_malloc_trim


def test_the_trimmer_trims_once_every_n_ticks_from_any_thread():
    calls = []
    trimmer = HeapTrimmer(every=10, trim=lambda pad: calls.append(pad) or 1)
    workers = [threading.Thread(target=lambda: [trimmer.tick() for _ in range(100)]) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert calls == [0] * 80
    HeapTrimmer(every=1, trim=None).tick()  # no malloc_trim on this platform: nothing to call


def test_every_output_frame_counts_towards_a_trim(monkeypatch):
    calls = []
    monkeypatch.setattr(filter_module, "HEAP", HeapTrimmer(every=3, trim=lambda pad: calls.append(pad) or 1))
    out = derain(clip_from_array(shots_video([9], height=16, width=16)), model=IdentityNet(), device_index=-1)
    list(out.frames())
    assert len(calls) == 3


@pytest.mark.skipif(find_malloc_trim() is None, reason="needs glibc's malloc_trim")
def test_resident_memory_stays_flat_while_rendering_from_python(tmp_path):
    """400 frames of 160x256 YUV through an identity network in a fresh process (without trimming
    RSS climbs by about 100 MB over them; with it, it stays flat)."""
    result = tmp_path / "memory.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "vs_memory.py"), "--frames", "400",
                           "--width", "256", "--height", "160", "--every", "50", "--threads", "2",
                           "--json", str(result)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    samples = json.loads(result.read_text())["samples"]
    rss = [mb for n, mb in samples if n >= 50]  # from frame 50: first windows and VapourSynth's caches filled
    # RSS swings between trims, so compare means: without trimming the last three are ~90 MB higher
    growth = sum(rss[-3:]) / 3 - sum(rss[:3]) / 3
    assert growth < 45, f"RSS grew by {growth:.0f} MB from frames 50-150 to the last frames: {samples}"
