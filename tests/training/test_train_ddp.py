"""Two CPU processes with gloo: DDP keeps both ranks' weights identical, and rank 0 alone writes files."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from training.config import build_config
from training.distributed import cleanup_distributed
from training.synth import write_synthetic_dataset
from training.trainer import Trainer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), TORCH_HOME=str(Path(out) / "no_torch_home"))
    config = build_config(overrides=dict(preset="tiny", data=data, out=out, iterations=3, crop=32, frames=3,
                                         batch_size=1, warmup_iterations=0, lr=1e-3, threads=1, progress=False,
                                         device="cpu", checkpoint_every=2))
    try:
        trainer = Trainer(config)
        assert trainer.ctx.world_size == world and trainer.ctx.rank == rank
        result = trainer.run()
        torch.save({"weights": trainer.net.state_dict(), "export": str(result.export)},
                   Path(out) / f"rank{rank}.pt")
    finally:
        cleanup_distributed()


def test_two_gloo_ranks_hold_identical_weights(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", 2, 4, 32, 40, seed=5)
    out = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_port(), str(data), str(out)), nprocs=2, join=True)

    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    assert rank0["weights"].keys() == rank1["weights"].keys()
    assert all(torch.equal(rank0["weights"][k], rank1["weights"][k]) for k in rank0["weights"])
    torch.manual_seed(0)
    import models
    initial = models.build("tiny").state_dict()
    assert any(not torch.equal(initial[k], rank0["weights"][k]) for k in initial)  # it did train

    assert rank0["export"].endswith("model.safetensors") and rank1["export"] == "None"
    state = torch.load(out / "checkpoints" / "iter_00000002.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    log = (out / "log.jsonl").read_text().splitlines()
    assert len(log) == 3  # one record per iteration, written by rank 0 only
