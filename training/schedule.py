"""The authors' learning-rate schedule: linear warm-up, then polynomial decay (mmcv's PolyLrUpdater).

lr(i) = (base - min_lr) * (1 - i / total) ** power + min_lr, and during the first ``warmup`` iterations
that value is scaled by 1 - (1 - i / warmup) * (1 - warmup_ratio), so the run starts at
warmup_ratio * lr and reaches the poly curve at the end of warm-up.
"""
from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_poly_lr(iteration: int, base_lr: float, total: int, warmup: int = 2000, warmup_ratio: float = 1e-6,
                   power: float = 1.0, min_lr: float = 1e-9) -> float:
    """The learning rate used for the step after ``iteration`` completed iterations."""
    progress = min(iteration, total) / max(total, 1)
    lr = (base_lr - min_lr) * (1.0 - progress) ** power + min_lr
    if iteration < warmup:
        lr *= 1.0 - (1.0 - iteration / warmup) * (1.0 - warmup_ratio)
    return lr


def make_scheduler(optimizer: Optimizer, total: int, warmup: int = 2000, warmup_ratio: float = 1e-6,
                   power: float = 1.0, min_lr: float = 1e-9) -> LambdaLR:
    """A LambdaLR stepping once per iteration along :func:`warmup_poly_lr` for every parameter group."""
    def factor_for(base_lr: float):
        return lambda it: warmup_poly_lr(it, base_lr, total, warmup, warmup_ratio, power, min_lr) / base_lr

    return LambdaLR(optimizer, [factor_for(group["lr"]) for group in optimizer.param_groups])
