"""``rainmamba bench --profile``: where the engine's time goes, stage by stage, and the compute floor.

The compute floor of a network is its count of convolution and matrix-product FLOPs per output pixel
(``torch.utils.flop_counter``; the scan, norms and elementwise work are not counted) divided by the float32
matrix-product rate measured on this machine: the time the arithmetic would take if everything ran
at matmul speed. Every bench result is reported as a share of it, so numbers from different machines
and different loads compare.

The profile streams a synthetic clip through `models.Derainer` with timers around each engine stage
(frame conversion, input checks, padding, tile crops, the network, tile blending, the temporal blend)
and each kind of network layer (module hooks; the scan, causal conv1d and projections are wrapped).
Times are exclusive: a stage's own time, without the stages inside it. It runs on the CPU, where
every operation finishes before the next starts; on a GPU the timers would only see launches.
A second, short pass under ``torch.profiler`` gives the heaviest PyTorch operators (copies included).
"""
from __future__ import annotations

import contextlib
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .sizes import parse_size

Row = dict[str, Any]


# -- the compute floor ------------------------------------------------------------------------------

def matmul_rate(device: torch.device, size: int = 2048, repeat: int = 5) -> float:
    """FLOP/s of the best of ``repeat`` float32 ``size x size`` matrix products."""
    a, b = torch.rand(size, size, device=device), torch.rand(size, size, device=device)
    best = float("inf")
    for i in range(repeat + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:   # the first product is a warm-up
            best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def flops_per_pixel(net: nn.Module, size: tuple[int, int] | None = None) -> float:
    """Convolution and matmul FLOPs of one forward per output pixel (T frames of ``size``, default the
    preset's tile), counted by ``FlopCounterMode`` during one forward."""
    window = net.preset.protocol
    height, width = size or window.tile
    device = next(net.parameters()).device
    x = torch.rand(1, window.frames, 3, height, width, device=device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / (window.frames * height * width)


def floor_row(net: nn.Module, device: torch.device, rate: float) -> Row:
    """The floor's two factors for ``net``: FLOPs per pixel and the measured matmul rate."""
    fpp = flops_per_pixel(net)
    return {"section": "floor", "preset": net.preset.name, "device": device.type,
            "kflop_per_pixel": fpp / 1e3, "matmul_gflop_per_s": rate / 1e9,
            "floor_frames_per_s_480p": rate / (fpp * 854 * 480),
            "floor_frames_per_s_1080p": rate / (fpp * 1920 * 1080), "flop_per_pixel": fpp}


def of_floor(flop_per_pixel: float, rate: float, pixels: float, seconds: float) -> float:
    """The share of the compute floor reached: floor time of ``pixels`` output pixels over ``seconds``."""
    return flop_per_pixel * pixels / rate / seconds


# -- exclusive stage timers ------------------------------------------------------------------------------

class StageClock:
    """Exclusive wall time per named stage; stages nest (``enter``/``leave``), time goes to the innermost."""

    def __init__(self, outside: str) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack = [outside]
        self.mark = time.perf_counter()

    def _charge(self) -> None:
        now = time.perf_counter()
        self.totals[self.stack[-1]] += now - self.mark
        self.mark = now

    def enter(self, name: str) -> None:
        self._charge()
        self.stack.append(name)
        self.calls[name] += 1

    def leave(self) -> None:
        self._charge()
        self.stack.pop()

    def wrap(self, name: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.enter(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()
        return timed


# Engine stages: (module, class or None, attribute, label). Patched for the profile only, restored after.
ENGINE_STAGES = [
    ("models.stream", None, "frame_in", "frames in (uint8 -> float32)"),
    ("models.stream", None, "frame_out", "frames out (float32 -> uint8)"),
    ("models.stream", None, "combine", "temporal blend, clamp (combine)"),
    ("models.engine", None, "network_input", "input value checks, clamp"),
    ("models.tiles", "Tiling", "pad", "padding"),
    ("models.tiles", "Tiling", "tile", "tile crops"),
    ("models.tiles", "Tiling", "blend", "tile blending, crop, copy out"),
    ("models.engine", "Derainer", "_forward", "network: autocast, checks, fusion glue"),
    ("models.bimamba", None, "causal_conv1d", "mamba: causal conv1d + SiLU"),
    ("models.bimamba", None, "selective_scan", "mamba: selective scans"),
    ("models.bimamba", None, "_project_tokens", "mamba: in/x/dt projections (matmuls)"),
    ("models.bimamba", None, "_times", "mamba: in/x/dt projections (matmuls)"),
    ("models.network", "RainMamba", "_decode", "decoder: convs, pixel shuffles"),
]


def _module_label(name: str, module: nn.Module) -> str | None:
    """The stage a network submodule's own time belongs to (None: charge it to its parent)."""
    kind = type(module).__name__
    leaf = name.rsplit(".", 1)[-1]
    if kind in ("LayerNorm", "LayerNorm2d"):
        return "LayerNorm"
    if name.startswith("feat_extract"):
        return {"ConvNeXtBlock": "encoder: GELU, layer scale, residual, permutes",
                "Linear": "encoder: pointwise matmuls",
                "Conv2d": "encoder: depthwise 7x7 convs" if leaf == "depthwise_conv"
                else "encoder: stem, downsampling convs"}.get(kind)
    if name.startswith(("head", "refine")):
        return "fusion: lateral 1x1, refine convs" if kind in ("Conv2d", "Sequential", "ProjectionHead") else None
    if leaf in ("conv1", "upconv2"):
        return "H/8 stage: down/up 3-D convs"
    if kind == "MambaBlock":
        return "mamba blocks: Hilbert gathers, residuals, layout"
    if kind == "BiMamba":
        return "mamba: A, direction sum, gating glue"
    if kind == "Linear" and leaf == "out_proj":   # in/x/dt projections are functions, timed as such
        return "mamba: out projection (matmul)"
    if kind == "Linear" and leaf in ("fc1", "fc2"):
        return "mlp: fc1/fc2 matmuls"
    if kind == "SequenceDWConv":
        return "mlp: depthwise 3x3x3 conv"
    if kind == "Mlp":
        return "mlp: GELU"
    return None


@contextlib.contextmanager
def _instrumented(net: nn.Module, clock: StageClock) -> Iterator[None]:
    import importlib
    restore: list[tuple[Any, str, Any]] = []
    handles = []
    try:
        for path, cls, attr, label in ENGINE_STAGES:
            owner = importlib.import_module(path)
            owner = getattr(owner, cls) if cls else owner
            original = getattr(owner, attr)
            restore.append((owner, attr, original))
            setattr(owner, attr, clock.wrap(label, original))
        for name, module in net.named_modules():
            label = _module_label(name, module)
            if label is not None:
                handles.append(module.register_forward_pre_hook(lambda m, a, label=label: clock.enter(label)))
                handles.append(module.register_forward_hook(lambda m, a, o: clock.leave()))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for owner, attr, original in reversed(restore):
            setattr(owner, attr, original)


# -- the profile -------------------------------------------------------------------------------------------

def profile_engine(net: nn.Module, size: str, frames: int, device: torch.device, dtype: torch.dtype,
                   mode: str, batch_size: int, fpp: float, rate: float, log: Callable[[str], None],
                   tile: Any = None, op_rows: int = 10) -> list[Row]:
    """Stage rows (ms per frame, share of the wall time) for streaming ``frames`` frames of ``size``,
    a summary row (tiles, pixels computed per output pixel, frames/s, share of the floor) and the
    heaviest ``op_rows`` PyTorch operators of one more window."""
    from .bench_measure import synthetic_frames
    from .engine import Derainer

    if device.type != "cpu":
        raise ValueError("--profile times stages on the CPU only (on a GPU its timers would see launches).")
    height, width = parse_size(size, named=True)
    engine = Derainer(net, mode=mode, device=device, dtype=dtype, batch_size=batch_size, tile=tile)
    tiling = engine._tiler(height, width)
    tiles = len(tiling.corners)
    computed = tiles * tiling.height.tile * tiling.width.tile
    windows = len(engine.plan(frames))
    log(f"profile: {net.preset.name} {size} x{frames} {mode}, {tiles} tiles of "
        f"{tiling.height.tile}x{tiling.width.tile} per window ...")
    clip = list(synthetic_frames(frames, height, width))
    for _ in engine.stream(iter(clip[:engine.frames])):   # warm-up: caches, curves, first-call costs
        pass
    clock = StageClock("engine: planning, buffering, stacking (Python)")
    with _instrumented(net, clock):
        start = clock.mark = time.perf_counter()
        for _ in engine.stream(iter(clip)):
            pass
        clock._charge()
        wall = clock.mark - start
    label = f"{size} ({height}x{width})"
    rows: list[Row] = [{"section": "profile_summary", "preset": net.preset.name, "mode": mode, "size": label,
                        "frames": frames, "tile": f"{tiling.height.tile}x{tiling.width.tile}",
                        "tiles_per_window": tiles, "tile_forwards": tiles * windows,
                        "computed_per_output_pixel": computed / (height * width),
                        "frames_per_s": frames / wall,
                        "of_floor": of_floor(fpp, rate, frames * height * width, wall)}]
    for stage, seconds in sorted(clock.totals.items(), key=lambda kv: -kv[1]):
        rows.append({"section": "profile", "size": label, "stage": stage, "calls": clock.calls.get(stage, 0),
                     "ms_per_frame": 1e3 * seconds / frames, "share": seconds / wall})
    if op_rows:
        rows += _top_ops(engine, clip[:engine.frames], label, op_rows)
    return rows


def _top_ops(engine: Any, clip: list, label: str, count: int) -> list[Row]:
    """The ``count`` PyTorch operators with the most self time over one more window."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in engine.stream(iter(clip)):
            pass
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return [{"section": "ops", "size": label, "op": e.key, "calls": e.count,
             "self_ms_per_frame": e.self_cpu_time_total / 1e3 / len(clip), "share": e.self_cpu_time_total / total}
            for e in events[:count]]
