"""Sharding ``rainmamba derain`` inputs over torchrun ranks: the split, and a real 2-rank gloo run on the CPU."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cv_clips import rainy_frames, read_video, write_video

from opencv_filter.distributed import RankInfo, shard

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_shards_are_disjoint_cover_everything_and_balance(world_size):
    items = [f"video{i}" for i in range(11)]
    costs = [100, 5, 5, 5, 5, 30, 30, 1, 60, 2, 2]
    shares = [shard(items, costs, rank, world_size) for rank in range(world_size)]
    assert sorted(sum(shares, [])) == sorted(items)  # each item exactly once
    for share in shares:
        assert share == [item for item in items if item in share]  # input order kept
    loads = [sum(costs[items.index(i)] for i in share) for share in shares]
    assert max(loads) - min(loads) <= max(costs)  # greedy longest-first: within one job of even
    assert shares == [shard(items, costs, rank, world_size) for rank in range(world_size)]  # deterministic


def test_more_ranks_than_items_leaves_some_idle():
    shares = [shard(["a", "b"], [1, 1], rank, 4) for rank in range(4)]
    assert sorted(sum(shares, [])) == ["a", "b"] and shares.count([]) == 2


def test_rank_info_from_torchrun_variables(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    info = RankInfo.from_env()
    assert (info.rank, info.world_size, info.local_rank, info.distributed) == (3, 4, 1, True)


def test_two_rank_torchrun_splits_the_library(tmp_path, tiny_checkpoint):
    """torchrun with 2 CPU ranks (gloo): each input derained by exactly one rank, a failure fails both."""
    library = tmp_path / "library"
    library.mkdir()
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        write_video(library / f"{name}.mp4", rainy_frames(5, size=(32, 32), seed=seed))
    (library / "d.mp4").write_bytes(b"not a video")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "--no-python", sys.executable, "-c", "from models.cli import main; main()",
               "derain", str(library), str(tmp_path / "out"), "-m", str(tiny_checkpoint), "--no-audio"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log  # d.mp4 failed on one rank: both ranks (and torchrun) report it
    assert re.search(r"\[rank \d\] Error: Cannot read \S*/d\.mp4: FFmpeg cannot open it", log), log
    for name in "abc":
        assert len(read_video(tmp_path / "out" / f"{name}.mp4")[0]) == 5
    mentions = r"\[rank (\d)\] (?:Error: Cannot read \S*/)?{}\.mp4"  # progress bars, or the error
    ranks_of = {name: set(re.findall(mentions.format(name), log)) for name in "abcd"}
    assert all(len(ranks) == 1 for ranks in ranks_of.values()), ranks_of
    assert set().union(*ranks_of.values()) == {"0", "1"}, ranks_of
