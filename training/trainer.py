"""The training loop: data -> RainMamba -> loss -> Adam, with checkpoints, exact resume and DDP.

:class:`Trainer` assembles a run from a resolved :class:`~training.config.TrainConfig` and runs it to the
configured iteration count. Everything random is a function of the seed and a position: dataset items of
(seed, epoch, index), the shuffle of (seed, epoch), the DCLL sampling of (seed, rank, iteration). A run
resumed from a checkpoint therefore replays exactly what the interrupted run would have done; the RNG
states saved alongside cover anything else that draws from the global generators.

A step whose loss or gradients are not finite is skipped; ``max_bad_steps`` of them in a row mean the run
has diverged (:mod:`training.divergence`): it stops with :class:`TrainingDiverged`, exports nothing, and
names its last good checkpoint, which is kept whatever ``keep_last`` says.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from models.atomic import write_atomic
from models.checkpoint import non_finite_tensors
from models.presets import PRESETS

from .config import TrainConfig, build_config, resolve
from .divergence import DivergenceGuard, TrainingDiverged
from .distributed import (DistContext, ResumableSampler, all_gather_objects, any_rank, mean_across_ranks,
                          setup_distributed)
from .losses import DCLL_LAYERS, PERCEPTUAL_LAYERS, DCLLoss, PerceptualLoss, RainMambaLoss
from .runlog import NullLog, RunLog
from .schedule import make_scheduler
from .state import (STATE_FORMAT, STATE_VERSION, capture_rng, checkpoint_dir, checkpoint_name, list_checkpoints,
                    remove_partial_checkpoints, restore_rng, resume_point, save_state)
from .vgg import VGGWeightsError, load_vgg_features

EXPORT_NAME = "model.safetensors"
_TERMS = ("charbonnier", "perceptual", "dcll")


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    iterations: int
    export: Path | None
    losses_used: list[str]
    skipped_steps: int
    final_loss: float | None
    metrics: dict[str, Any] | None


def _dcll_seed(seed: int, rank: int, iteration: int) -> int:
    return (seed * 1_000_003 + rank * 7_919 + iteration) % (2 ** 63)


def choose_preset(config: TrainConfig) -> str:
    """The preset name of a run: the one asked for, else the one of the ``--init`` checkpoint."""
    if config.preset:
        return config.preset
    if config.init:
        from models import CheckpointError, read_checkpoint
        from models.checkpoint import infer_preset

        try:
            return infer_preset(read_checkpoint(config.init)).name
        except CheckpointError as err:
            if not err.presets:
                raise
            raise err.with_hint(f"Pass --preset {err.presets[0]} (the preset the weights were trained with).") \
                from None
    raise ValueError(f"Choose the network with --preset ({', '.join(PRESETS)}), "
                     "or give --init CHECKPOINT to fine-tune.")


def prepare_config(config: TrainConfig, resume: bool, config_file: str | None = None,
                   overrides: dict[str, Any] | None = None) -> tuple[TrainConfig, dict[str, Any] | None]:
    """The run's config and, when resuming, the state to resume from.

    Resuming takes the saved config of the newest readable checkpoint in ``config.out`` (newer truncated or
    corrupt ones are passed over, and the state says so); a config file or explicit options still override
    it (and a changed recipe means the resumed run is no longer identical).
    """
    if not config.out:
        raise ValueError("Give the run folder with --out RUN_DIR.")
    if not resume:
        if list_checkpoints(config.out):
            raise ValueError(f"The run folder {config.out} already holds checkpoints of a run: pass --resume to "
                             "continue it, or choose another --out.")
        return config, None
    found = resume_point(config.out)
    if found is None:
        raise ValueError(f"Nothing to resume: {Path(config.out) / 'checkpoints'} holds no iter_*.pt checkpoint.")
    state, path, passed_over = found
    state["resumed_from"], state["passed_over"] = str(path), passed_over
    saved = build_config(base=dict(state["config"]))
    merged = build_config(config_file, {**(overrides or {}), "out": config.out}, base=saved)
    state["changed_settings"] = sorted(k for k, v in dataclasses.asdict(merged).items()
                                       if getattr(saved, k) != v and k != "out")
    return merged, state


class Trainer:
    """One training run: build it with a config (and optionally a network or dataset), then :meth:`run`."""

    def __init__(self, config: TrainConfig, *, resume_state: dict[str, Any] | None = None,
                 ctx: DistContext | None = None, net: nn.Module | None = None, dataset: Any = None) -> None:
        self.ctx = ctx or setup_distributed(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        # Early in training many activations and gradients are denormal floats, which make every CPU op
        # 10-15x slower; flushing them to zero costs nothing in accuracy.
        torch.set_flush_denormal(True)
        self.run_dir = Path(config.out)
        config = dataclasses.replace(config, preset=choose_preset(config))
        if dataset is None:
            pairs = self._find_pairs(config)
            self.config = resolve(config, self.ctx.world_size, len(pairs))
            self.dataset = self._build_dataset(self.config, pairs)
        else:
            self.config, self.dataset = resolve(config, self.ctx.world_size), dataset
        self.log = (RunLog(self.run_dir, self.config.iterations, resume_state["iteration"] if resume_state else 0,
                           self.config.progress, self.config.tensorboard) if self.ctx.is_main else NullLog())
        try:
            self._assemble(net, resume_state)
        except BaseException:
            self.log.close()
            raise

    def _assemble(self, net: nn.Module | None, resume_state: dict[str, Any] | None) -> None:
        self.amp_dtype = self._amp_dtype()
        self.net = self._build_net(net, fresh=resume_state is None)
        self.loss_fn = self._build_loss().to(self.ctx.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.lr, betas=tuple(self.config.betas),
                                          weight_decay=self.config.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, self.config.iterations, self.config.warmup_iterations,
                                        self.config.warmup_ratio, self.config.poly_power, self.config.min_lr)
        self.scaler = torch.amp.GradScaler(self.ctx.device.type, enabled=self.amp_dtype == torch.float16)
        self.sampler = ResumableSampler(len(self.dataset), self.config.batch_size, self.ctx.rank,
                                        self.ctx.world_size, self.config.seed)
        if self.sampler.batches_per_epoch() < 1:
            raise ValueError("The training set gives no whole batch: lower --batch-size or add data.")
        self.iteration, self.epoch, self.batch_in_epoch, self.skipped = 0, 0, 0, 0
        self.guard = DivergenceGuard(self.config.max_bad_steps)
        self._seed_globals()
        if resume_state is not None:
            self._restore(resume_state)
        self.model: nn.Module = self.net
        if self.ctx.distributed:
            # Depthwise conv weights (C, 1, k, k) get grads whose size-1 dim has another (equivalent) stride.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.net, device_ids=ids)
        self.loader = DataLoader(self.dataset, batch_size=self.config.batch_size, sampler=self.sampler,
                                 num_workers=self._workers(), pin_memory=self.ctx.device.type == "cuda",
                                 drop_last=True, persistent_workers=False)
        self.last_loss: float | None = None

    # ------------------------------------------------------------------------------------ assembly
    @staticmethod
    def _find_pairs(config: TrainConfig) -> list:
        from .datasets import find_pairs

        if not config.data:
            raise ValueError("Give the training data with --data ROOT (and --layout).")
        return find_pairs(config.data, config.layout, config.split, rainy_dir=config.rainy_dir,
                          clean_dir=config.clean_dir)

    @staticmethod
    def _build_dataset(config: TrainConfig, pairs: list):
        from .datasets import VideoPairDataset

        return VideoPairDataset(pairs, config.frames, config.crop, augment=config.augment, seed=config.seed,
                                repeat=config.repeat or 1)

    def _workers(self) -> int:
        if self.config.num_workers is not None:
            return self.config.num_workers
        if self.ctx.device.type != "cuda":
            return 0
        per_process = (os.cpu_count() or 1) // max(1, torch.cuda.device_count())
        return max(1, min(8, per_process))

    def _amp_dtype(self) -> torch.dtype | None:
        mode, on_gpu = self.config.amp, self.ctx.device.type == "cuda"
        if mode == "off" or (mode == "auto" and not on_gpu):
            return None
        if mode == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if mode == "fp16" and not on_gpu:
            raise ValueError("--amp fp16 needs a CUDA GPU; use --amp bf16 or --amp off on the CPU.")
        return torch.bfloat16 if mode == "bf16" else torch.float16

    def _build_net(self, net: nn.Module | None, fresh: bool) -> nn.Module:
        """The network to train; ``fresh`` False (resuming) skips --init/--encoder-init: the state replaces them."""
        import models

        cfg = self.config
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        if net is None and cfg.init and fresh:
            net = models.load(cfg.init, preset=cfg.preset)
            self.log.info(f"initialised from {cfg.init}")
        elif net is None:
            net = models.build(cfg.preset)
        if cfg.encoder_init and fresh:
            from .encoder_init import init_encoder

            report = init_encoder(net, cfg.encoder_init)
            self.log.info(report.summary())
            if self.ctx.is_main:
                write_atomic(self.run_dir / "encoder_init.json", json.dumps(dataclasses.asdict(report), indent=2))
        return net.to(self.ctx.device).float().train()

    def _build_loss(self) -> RainMambaLoss:
        cfg = self.config
        perceptual = dcll = None
        if cfg.perceptual_weight > 0:
            features = self._vgg(16, PERCEPTUAL_LAYERS, cfg.vgg16_weights, "the perceptual loss")
            perceptual = PerceptualLoss(features) if features is not None else None
        if cfg.dcll_weight > 0:
            features = self._vgg(19, DCLL_LAYERS, cfg.vgg19_weights, "DCLL")
            if features is not None:
                dcll = DCLLoss(features, cfg.dcll_samples, tuple(cfg.dcll_negative_distance), cfg.dcll_patch,
                               cfg.dcll_max_positive)
        loss = RainMambaLoss(perceptual, dcll, cfg.charbonnier_weight, cfg.perceptual_weight, cfg.dcll_weight,
                             cfg.charbonnier_eps)
        self.losses_used = ["charbonnier"] + [n for n, m in (("perceptual", perceptual), ("dcll", dcll)) if m]
        self.log.info(f"losses: {', '.join(self.losses_used)}")
        return loss

    def _vgg(self, depth: int, layers: int, path: str | None, purpose: str) -> nn.Sequential | None:
        try:
            return load_vgg_features(depth, layers, path)
        except VGGWeightsError as exc:
            if self.config.require_vgg:
                raise ValueError(f"{exc} (--require-vgg is set, so the run stops).") from None
            self.log.info(f"WARNING: {exc}. The run continues without {purpose}.")
            return None

    def _seed_globals(self) -> None:
        seed = self.config.seed + self.ctx.rank
        random.seed(seed)
        np.random.seed(seed % 2 ** 32)
        torch.manual_seed(seed)

    # ---------------------------------------------------------------------------------- checkpoints
    def _state(self) -> dict[str, Any]:
        rng = all_gather_objects(capture_rng(), self.ctx)
        return {
            "format": STATE_FORMAT, "version": STATE_VERSION,
            "iteration": self.iteration, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "world_size": self.ctx.world_size, "skipped_steps": self.skipped,
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": rng, "config": self.config.to_dict(),
        }

    def _checkpoint(self) -> None:
        if self.guard.streak:  # the same on every rank; the weights did not change since the last checkpoint
            self.log.info(f"checkpoint at iteration {self.iteration} postponed: the last step was not finite")
            return
        state = self._state()  # every rank takes part in gathering the RNG states
        path = checkpoint_dir(self.run_dir) / checkpoint_name(self.iteration)
        if self.ctx.is_main:
            save_state(state, self.run_dir, self.iteration, self.config.keep_last, keep=self.guard.last_good)
            self.log.info(f"checkpoint {path}")
        self.guard.saved(path)

    def _restore(self, state: dict[str, Any]) -> None:
        for problem in state.get("passed_over", []):
            self.log.info(f"WARNING: {problem} Resuming from the newest readable one, {state['resumed_from']}.")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._apply_lr(self.config.lr)  # the saved state holds the old base lr; --lr on resume changes it
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration, self.epoch = int(state["iteration"]), int(state["epoch"])
        self.batch_in_epoch, self.skipped = int(state["batch_in_epoch"]), int(state.get("skipped_steps", 0))
        saved_world = int(state.get("world_size", 1))
        if saved_world == self.ctx.world_size:
            restore_rng(state["rng"][self.ctx.rank])
        else:
            consumed = self.batch_in_epoch * saved_world
            self.batch_in_epoch = consumed // self.ctx.world_size
            self.log.info(f"WARNING: resuming with {self.ctx.world_size} processes where the checkpoint had "
                          f"{saved_world}: training continues, but not bit-identically to the original run.")
        if state.get("resumed_from"):
            self.guard.saved(Path(state["resumed_from"]))
        self.log.info(f"resumed at iteration {self.iteration} (epoch {self.epoch}, batch {self.batch_in_epoch})")
        if state.get("changed_settings"):
            self.log.info(f"settings changed since the checkpoint: {', '.join(state['changed_settings'])}")

    def _apply_lr(self, base_lr: float) -> None:
        """Put ``base_lr`` on the schedule at the current iteration (a no-op when it is the saved one)."""
        sched = self.scheduler
        sched.base_lrs = [base_lr for _ in self.optimizer.param_groups]
        for group, factor in zip(self.optimizer.param_groups, sched.lr_lambdas):
            group["initial_lr"], group["lr"] = base_lr, base_lr * factor(sched.last_epoch)
        sched._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    # ------------------------------------------------------------------------------------- the loop
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.ctx.device.type, dtype=self.amp_dtype)

    def _step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the logged values (the same on every rank)."""
        device = self.ctx.device
        lq = batch["lq"].to(device, non_blocking=True)
        gt = batch["gt"].to(device, non_blocking=True)
        number = self.iteration + 1
        generator = torch.Generator().manual_seed(_dcll_seed(self.config.seed, self.ctx.rank, number))
        lr = self.optimizer.param_groups[0]["lr"]
        with self._autocast():
            out = self.model(lq)
            loss, terms = self.loss_fn(out, gt, lq, number / self.config.iterations, generator)
        skip = any_rank(not bool(torch.isfinite(loss)), self.ctx)
        grad_norm = float("nan")
        if not skip:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            params = [p for p in self.net.parameters() if p.grad is not None]
            if self.config.clip_grad:
                norm = torch.nn.utils.clip_grad_norm_(params, self.config.clip_grad)
            else:
                norm = torch.nn.utils.get_total_norm([p.grad for p in params])
            grad_norm = float(norm)
            if self.scaler.is_enabled():
                scale = self.scaler.get_scale()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                skip = self.scaler.get_scale() < scale  # the scaler found inf/nan gradients
            elif math.isfinite(grad_norm):
                self.optimizer.step()
            else:
                skip = True
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if skip:
            self.skipped += 1
            self.log.info(f"WARNING: iteration {number}: non-finite loss or gradients "
                          f"(loss {float(loss.detach()):.4g}); the step was skipped.")
        values = torch.stack([loss.detach().float()] + [terms.get(t, loss.new_zeros(())).float() for t in _TERMS])
        values = mean_across_ranks(values, self.ctx).tolist()
        return {"lr": lr, "loss": values[0], **dict(zip(_TERMS, values[1:])), "grad_norm": grad_norm,
                "skipped": int(skip)}

    def run(self) -> TrainResult:
        """Train to ``config.iterations``, checkpointing on the way; export the weights at the end."""
        cfg = self.config
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            remove_partial_checkpoints(self.run_dir)
            write_atomic(self.run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
            self.log.info(f"training {cfg.preset} for {cfg.iterations} iterations on {self.ctx.device} "
                          f"x{self.ctx.world_size}, batch {cfg.batch_size}/process, crop {cfg.crop}, "
                          f"T={cfg.frames}, {len(self.dataset)} windows per epoch")
        metrics = None
        try:
            while self.iteration < cfg.iterations:
                self.sampler.set_epoch(self.epoch, self.batch_in_epoch)
                self.dataset.set_epoch(self.epoch)
                for batch in self.loader:
                    values = self._step(batch)
                    self.iteration += 1
                    self.batch_in_epoch += 1
                    self.last_loss = values["loss"]
                    if self.guard.step(bool(values["skipped"])):
                        self.log.record(self.iteration, values)
                        raise self._diverged()
                    if self.iteration % cfg.log_every == 0 or self.iteration == cfg.iterations:
                        self.log.record(self.iteration, values)
                    if self.iteration % cfg.checkpoint_every == 0 or self.iteration == cfg.iterations:
                        self._checkpoint()
                    if cfg.val_data and cfg.val_every and self.iteration % cfg.val_every == 0:
                        metrics = self._validate()
                    if self.iteration >= cfg.iterations:
                        break
                else:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            if cfg.val_data and (metrics is None or self.iteration % max(cfg.val_every, 1)):
                metrics = self._validate()
            export = self._export(metrics)
        finally:
            self.log.close()
        return TrainResult(self.run_dir, self.iteration, export, self.losses_used, self.skipped, self.last_loss,
                           metrics)

    def _diverged(self) -> TrainingDiverged:
        """Stop: set aside the checkpoints that led to NaN (so --resume skips them), say what to try."""
        suspect = self.guard.suspect([p for _, p in list_checkpoints(self.run_dir)])
        if self.ctx.is_main:
            for path in suspect:
                path.rename(path.with_name(path.name + ".diverged"))
        error = self.guard.error(self.iteration, self.config.out, self.config.lr, renamed=bool(suspect))
        self.log.info(str(error), console=False)
        return error

    # ------------------------------------------------------------------------------- end products
    def _validate(self) -> dict[str, Any] | None:
        """Evaluate on ``val_data`` (rank 0; the others wait); returns the overall metrics."""
        result = None
        if self.ctx.is_main:
            from .evaluate import evaluate, write_report

            report = evaluate(self.net, self.config.val_data, self.config.val_layout or self.config.layout,
                              device=self.ctx.device, progress=False, info=self.log.info)
            write_report(report, self.run_dir / f"eval_iter_{self.iteration:08d}.json")
            result = report["overall"]
            self.log.info(f"validation at iteration {self.iteration}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float)))
            self.net.train()
        if self.ctx.distributed:
            torch.distributed.barrier()
        return result

    def _export(self, metrics: dict[str, Any] | None) -> Path | None:
        """Write the final weights in the project format with their provenance (rank 0)."""
        if not self.ctx.is_main:
            return None
        import models

        cfg = self.config
        provenance = {
            "trained_with": "rainmamba train", "preset": cfg.preset, "data": cfg.data, "layout": cfg.layout,
            "iterations": self.iteration, "batch_size": cfg.batch_size, "processes": self.ctx.world_size,
            "crop": cfg.crop, "frames": cfg.frames, "losses": self.losses_used, "seed": cfg.seed,
            "init": cfg.init, "encoder_init": cfg.encoder_init, "skipped_steps": self.skipped,
            "final_train_loss": self.last_loss, "final_metrics": metrics, "run_dir": str(self.run_dir.resolve()),
        }
        bad = non_finite_tensors(self.net.state_dict())
        if bad:
            raise TrainingDiverged(f"Training diverged: the trained weights hold NaN or infinite values ({bad[0]}"
                                   f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}), so nothing was "
                                   f"exported; try a lower --lr (this run: {cfg.lr:g}) or --clip-grad 1.")
        path = models.save_checkpoint(self.net, self.run_dir / EXPORT_NAME, provenance)
        self.log.info(f"exported {path}: use it with core.rainmamba.Derain(clip, model='{path}') or "
                      f"`rainmamba derain --model {path}`")
        return path


def train(config: TrainConfig, resume: bool = False, config_file: str | None = None,
          overrides: dict[str, Any] | None = None, **trainer_kwargs: Any) -> TrainResult:
    """Set up (or resume) and run one training run; the API behind ``rainmamba train``."""
    config, state = prepare_config(config, resume, config_file, overrides)
    return Trainer(config, resume_state=state, **trainer_kwargs).run()

