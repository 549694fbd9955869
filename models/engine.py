"""The video engine: runs a RainMamba network over whole videos and over frame streams.

The network sees T frames of a bounded size at a time. Real videos are longer and larger, have odd
sizes and scene cuts. `Derainer` cuts a video into temporal windows (`plan`) and each window into
spatial tiles (`run_window`), runs the network in batches on the chosen device and dtype, and blends
the pieces back:

- ``official`` mode reproduces the authors' test protocol (docs/NETWORK.md, "Test protocol"): windows with stride
  ``T - overlap_T``, the last one shifted back to end at the last frame, a frame's result the plain
  mean of every window covering it.
- ``fast`` mode computes each frame once: windows ``[0, T), [T, 2T), ...``; the last, partial one is
  shifted back so it keeps T frames of context, and only its frames not yet produced take its output.
- Both modes blend spatial tiles the authors' way (bands of half the overlap next to a neighbouring
  tile get weight 0); it costs nothing next to the network, so ``fast`` keeps it.
- Clips shorter than T are padded in time by bouncing (0 1 2 1 0 ...); frames smaller than a tile or
  not a multiple of 8 are padded at the bottom/right (reflect, replicate when too small to reflect)
  to a multiple of 8 and at least the network's minimum size (32 px for RainMamba), and the result
  is cropped back. Scene cuts split the video into segments planned apart, so no window
  spans a cut.

Random-access callers (the VapourSynth filter) use `plan`, `windows_covering`, `run_window` and
`combine`; `__call__` and `stream` are built from the same pieces and share one incremental driver,
so every path gives the same frames (bit for bit on the CPU with ``batch_size=1``).
"""
from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .network import MIN_SIZE
from .devices import resolve_device

__all__ = ["Derainer", "Window", "windows_covering", "combine", "MODES"]

MODES = ("fast", "official")
ALIGN = 8  # the network needs H and W to be multiples of this

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}

Video = Tensor | np.ndarray
Cuts = Iterable[int] | Sequence[bool] | np.ndarray | None


# ----------------------------------------------------------------------------------------------
# Temporal windows and the one weighting rule
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """Frames ``[start, stop)`` run through the network together.

    ``weights[i]`` is the weight of the window's output for frame ``start + i`` in that frame's
    blend; 0 means the frame is there only as context (the shifted last window of ``fast`` mode).
    """

    start: int
    stop: int
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop or len(self.weights) != self.stop - self.start:
            raise ValueError(f"Invalid window {self!r}: need 0 <= start < stop and one weight per frame.")

    @property
    def length(self) -> int:
        return self.stop - self.start

    def weight(self, index: int) -> float:
        """The weight of this window's output for frame ``index`` (0 outside the window)."""
        return self.weights[index - self.start] if self.start <= index < self.stop else 0.0


def windows_covering(plan: Sequence[Window], index: int) -> list[Window]:
    """The windows of ``plan`` (sorted by start, as `Derainer.plan` returns it) that give frame
    ``index`` a non-zero weight, in plan order: compute these, then `combine` them."""
    # Starts and stops both increase along a plan, so the candidates are one contiguous run.
    lo = bisect.bisect_right(plan, index, key=lambda w: w.stop)
    hi = bisect.bisect_right(plan, index, key=lambda w: w.start)
    return [w for w in plan[lo:hi] if w.weight(index) != 0]


def combine(index: int, contributions: Iterable[tuple[Window, Tensor]]) -> Tensor:
    """Blend frame ``index`` from the outputs of the windows covering it.

    ``contributions`` pairs each covering window with its output ((t, 3, H, W), as `run_window`
    returns it), in plan order. Result: the weighted mean, clamped to [0, 1], float32 (3, H, W).
    Summing in plan order and dividing last reproduces the authors' accumulate-then-divide exactly.
    """
    total, acc = 0.0, None
    for window, output in contributions:
        weight = window.weight(index)
        if weight == 0:
            continue
        term = output[index - window.start] * weight
        acc = term if acc is None else acc + term
        total += weight
    if acc is None:
        raise ValueError(f"No window covers frame {index}: pass the windows from windows_covering(plan, {index}).")
    return (acc / total).clamp_(0.0, 1.0).to(torch.float32)


def _segment_plan(start: int, stop: int, frames: int, stride: int, fill_tail_only: bool) -> list[Window]:
    """Windows for one shot ``[start, stop)``: regular starts every ``stride`` frames, then a last
    window ending at ``stop``; ``fill_tail_only`` gives that last window weight only on frames the
    regular windows did not reach (``fast`` mode), otherwise it joins the mean (``official``)."""
    length = stop - start
    if length <= frames:
        return [Window(start, stop, (1.0,) * length)]
    regular = range(0, length - frames, stride)
    windows = [Window(start + s, start + s + frames, (1.0,) * frames) for s in regular]
    tail = length - frames
    reached = regular[-1] + frames
    weights = tuple(0.0 if fill_tail_only and tail + j < reached else 1.0 for j in range(frames))
    windows.append(Window(start + tail, stop, weights))
    return windows


def _cut_indices(cuts: Cuts, n_frames: int) -> list[int]:
    """Sorted indices in (0, n) where a new shot starts, from indices or per-frame flags."""
    if cuts is None:
        return []
    if isinstance(cuts, np.ndarray) and cuts.dtype == np.bool_ or _is_flag_sequence(cuts):
        flags = list(cuts)
        if len(flags) != n_frames:
            raise ValueError(f"cuts has {len(flags)} per-frame flags for {n_frames} frames: give one flag per frame.")
        return [i for i, flag in enumerate(flags) if flag and i > 0]
    indices = sorted({_as_index(c) for c in cuts})
    bad = [i for i in indices if not 0 <= i < n_frames]
    if bad:
        raise ValueError(f"Cut at frame {bad[0]} is outside the video's frames 0..{n_frames - 1}: drop it.")
    return [i for i in indices if i > 0]


def _is_flag_sequence(cuts: Any) -> bool:
    return isinstance(cuts, (list, tuple)) and len(cuts) > 0 and all(isinstance(c, (bool, np.bool_)) for c in cuts)


def _as_index(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"cuts must be frame indices (ints) or one bool flag per frame, got {value!r}.")
    return int(value)


def _bounce(length: int, target: int) -> list[int]:
    """Indices that extend a clip of ``length`` frames to ``target`` by mirroring (0 1 2 1 0 1 ...)."""
    if length == 1:
        return [0] * target
    period = 2 * (length - 1)
    return [i % period if i % period < length else period - i % period for i in range(target)]


# ----------------------------------------------------------------------------------------------
# Spatial tiles
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Axis:
    """How one spatial axis of ``size`` pixels is padded and cut into tiles."""

    size: int
    padded: int
    tile: int
    starts: tuple[int, ...]
    masks: tuple[Tensor, ...]  # per tile: 1 where the tile's output counts, 0 in trimmed bands

    @classmethod
    def build(cls, size: int, tile: int, overlap: int, min_size: int) -> "_Axis":
        if tile == 0 or size < tile:
            padded = max(-(-size // ALIGN) * ALIGN, min_size)
            tile, starts = padded, [0]
        else:
            padded = size
            starts = list(range(0, size - tile, tile - overlap)) + [size - tile]
        masks = []
        for k in range(len(starts)):
            mask = torch.ones(tile)
            # The authors' slicing: the far side drops ceil(overlap/2), the near side floor(overlap/2)
            # (equal for even overlaps); an overlap of 0 drops nothing.
            if k < len(starts) - 1 and overlap > 0:
                mask[tile - (overlap + 1) // 2:] = 0
            if k > 0:
                mask[:overlap // 2] = 0
            masks.append(mask)
        return cls(size, padded, tile, tuple(starts), tuple(masks))


def _tile_corners(axis_h: _Axis, axis_w: _Axis) -> list[tuple[int, int]]:
    """Top-left corners of the tiles, row by row (the order tiles are run and blended in)."""
    return [(h0, w0) for h0 in axis_h.starts for w0 in axis_w.starts]


def _pad_axis(x: Tensor, amount: int, dim: int) -> Tensor:
    """Pad ``x`` (T, 3, H, W) at the end of dim -2 or -1: reflect, or replicate if too small to reflect."""
    if amount == 0:
        return x
    mode = "reflect" if amount < x.shape[dim] else "replicate"
    pad = (0, amount, 0, 0) if dim == -1 else (0, 0, 0, amount)
    return F.pad(x, pad, mode=mode)


# ----------------------------------------------------------------------------------------------
# Frame conversion (uint8 / float, numpy / torch) and validation
# ----------------------------------------------------------------------------------------------

class _Kind(NamedTuple):
    """What a frame came in as, so its output goes back the same way."""

    numpy: bool
    uint8: bool
    device: torch.device | None


def _check_dtype(array: Video, what: str) -> bool:
    """Validate the element type; True for uint8, False for floats."""
    dtype = array.dtype
    if dtype in (np.uint8, torch.uint8):
        return True
    floating = np.issubdtype(dtype, np.floating) if isinstance(array, np.ndarray) else dtype.is_floating_point
    if not floating:
        raise ValueError(f"{what} has dtype {dtype}: give uint8 (0..255) or float (0..1) values.")
    return False


def _check_finite(array: Video, what: str) -> None:
    finite = np.isfinite(array).all() if isinstance(array, np.ndarray) else bool(torch.isfinite(array).all())
    if not finite:
        raise ValueError(f"{what} contains NaN or infinite values: clean or replace them before deraining.")


def _frame_in(frame: Any, index: int, device: torch.device) -> tuple[Tensor, _Kind]:
    """Validate one (3, H, W) frame and return it as float32 in [0, 1] on ``device``, with its kind."""
    what = f"Frame {index}"
    if not isinstance(frame, (np.ndarray, Tensor)):
        raise ValueError(f"{what} is a {type(frame).__name__}: give a numpy array or torch tensor of shape (3, H, W).")
    if frame.ndim != 3 or frame.shape[0] != 3 or frame.shape[1] < 1 or frame.shape[2] < 1:
        raise ValueError(f"{what} has shape {tuple(frame.shape)}: frames must be (3, H, W) RGB, channels first.")
    uint8 = _check_dtype(frame, what)
    if not uint8:
        _check_finite(frame, what)
    if isinstance(frame, np.ndarray):
        kind = _Kind(True, uint8, None)
        frame = torch.from_numpy(np.ascontiguousarray(frame))
    else:
        kind = _Kind(False, uint8, frame.device)
        frame = frame.detach()
    frame = frame.to(device).to(torch.float32)  # moved first: uint8 crosses to a GPU as bytes, not floats
    return (frame / 255.0 if uint8 else frame), kind


def _frame_out(frame: Tensor, kind: _Kind) -> Video:
    """Turn a clamped float32 (3, H, W) result back into the kind its input frame had."""
    if kind.uint8:
        frame = (frame * 255.0).round_().to(torch.uint8)
    return frame.numpy() if kind.numpy else frame.to(kind.device)


def _check_video(video: Any) -> None:
    if not isinstance(video, (np.ndarray, Tensor)):
        raise ValueError(f"video is a {type(video).__name__}: give a numpy array or torch tensor (N, 3, H, W).")
    if video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(f"video has shape {tuple(video.shape)}: give (N, 3, H, W) RGB frames, channels first "
                         "(use stream() or video[None] for single frames).")
    if video.shape[0] == 0 or video.shape[2] == 0 or video.shape[3] == 0:
        raise ValueError(f"video has shape {tuple(video.shape)}: "
                         "it must hold at least one frame of at least 1x1 pixels.")
    if not _check_dtype(video, "video"):
        _check_finite(video, "video")


# ----------------------------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------------------------

class Derainer:
    """Run a RainMamba network (or any (B, T, 3, H, W) -> same-shape module) over videos and streams.

    Args:
        net: the network; ``net.preset`` gives ``frames`` (T), ``tile`` (H, W) and
            ``tile_overlap`` (T, H, W) defaults. It is moved to ``device`` and put in eval mode.
        mode: ``"official"`` (the authors' overlapping windows, mean blend) or ``"fast"`` (each frame
            computed once).
        stride: frames between window starts, 1..T. Default: ``T - overlap_T`` (official) or T (fast).
            In fast mode a smaller stride still averages the regular windows, and the shifted last
            window only fills the frames they did not reach.
        tile: spatial tile, an int or (H, W), multiples of 8 and at least the net's minimum size
            (``net.min_size``, else 32); 0 (for one or both axes) = whole frame. None: the preset's.
            A frame side smaller than the tile runs as one padded tile.
        tile_overlap: spatial overlap, an int, (H, W), or (T, H, W) whose T sets the official stride
            when ``stride`` is None. None: the preset's. Must be smaller than the tile. As in the
            authors' slicing, an odd overlap O trims ceil(O/2) px at a tile's bottom/right and
            floor(O/2) at its top/left; 0 trims nothing.
        device: None (the net's device), "cpu", "cuda", "cuda:N" or an int N.
        dtype: float32 (default), or float16 (CUDA) / bfloat16 (CUDA or CPU), run via autocast with the
            scan state kept in float32. On a CPU with AVX-512 BF16 or AMX, bfloat16 is about 1.2-1.5x
            faster for the larger presets.
        batch_size: window tiles of equal size per forward call.

    Outputs are clamped to [0, 1]; float input gives float32 output, uint8 input gives rounded uint8.
    On a CPU the engine turns on ``torch.set_flush_denormal(True)`` in the threads that run it (as the
    trainer does): floats below 1e-38 become 0, which keeps trained networks fast.
    """

    def __init__(self, net: nn.Module, mode: str = "fast", stride: int | None = None,
                 tile: int | Sequence[int] | None = None, tile_overlap: int | Sequence[int] | None = None,
                 device: str | int | torch.device | None = None, dtype: str | torch.dtype | None = None,
                 batch_size: int = 1) -> None:
        preset = getattr(net, "preset", None)
        if preset is None:
            raise ValueError("The network has no .preset: build it with models.build()/models.load(), "
                             "or set net.preset to a models.Preset.")
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}: use 'fast' or 'official'.")
        self.mode = mode
        self.preset = preset
        self._frames = int(preset.protocol.frames)
        overlap = preset.protocol.tile_overlap if tile_overlap is None else tile_overlap
        overlap_frames, overlap_hw = _split_overlap(overlap, preset.protocol.tile_overlap[0])
        # RainMamba's encoder needs 32 px; another net may declare its own minimum as ``net.min_size``.
        self.min_size = max(ALIGN, int(getattr(net, "min_size", MIN_SIZE)))
        self.tile = _pair(preset.protocol.tile if tile is None else tile, "tile")
        self.tile_overlap = _pair(overlap_hw, "tile_overlap")
        self._check_tiles()
        self.stride = self._resolve_stride(stride, overlap_frames)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.batch_size = batch_size
        self.device = _resolve_device(device, net)
        self.dtype = _resolve_dtype(dtype, self.device)
        self.net = net.to(self.device).eval()
        self._axes: dict[tuple[int, int], tuple[_Axis, _Axis]] = {}
        self._blend_masks: dict[tuple[int, int], tuple[list[Tensor], Tensor]] = {}

    # -- configuration ------------------------------------------------------------------------

    @property
    def frames(self) -> int:
        """T: frames per window."""
        return self._frames

    @property
    def max_buffered_frames(self) -> int:
        """The most input frames `stream` (and `__call__`) hold at once.

        T + 1 with ``batch_size=1``; each extra batched window may keep up to T more frames alive.
        """
        return self.batch_size * self._frames + 1

    def _check_tiles(self) -> None:
        for size, overlap in zip(self.tile, self.tile_overlap):
            if size != 0 and (size < self.min_size or size % ALIGN):
                raise ValueError(f"tile {self.tile} is not allowed: each side must be 0 (whole frame) "
                                 f"or a multiple of {ALIGN} of at least {self.min_size}.")
            if overlap < 0 or (size and overlap >= size):
                raise ValueError(f"tile_overlap {self.tile_overlap} must be >= 0 "
                                 f"and smaller than the tile {self.tile}.")

    def _resolve_stride(self, stride: int | None, overlap_frames: int) -> int:
        frames = self._frames
        if stride is None:
            stride = frames - overlap_frames if self.mode == "official" else frames
            if not 1 <= stride <= frames:
                raise ValueError(f"The temporal overlap {overlap_frames} must be smaller than T={frames}: "
                                 "pass stride= or a smaller tile_overlap.")
            return stride
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= frames:
            raise ValueError(f"stride must be an integer from 1 to T={frames}, got {stride!r}.")
        return int(stride)

    # -- planning -----------------------------------------------------------------------------

    def plan(self, n_frames: int, cuts: Cuts = None) -> list[Window]:
        """The windows for a video of ``n_frames`` frames, sorted by start; ``cuts`` (indices where a
        new shot starts, or one bool per frame) split it into shots that no window spans."""
        if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
            raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}.")
        bounds = [0, *_cut_indices(cuts, int(n_frames)), int(n_frames)]
        plan: list[Window] = []
        for start, stop in zip(bounds, bounds[1:]):
            plan += self._segment_plan(start, stop)
        return plan

    def _segment_plan(self, start: int, stop: int) -> list[Window]:
        return _segment_plan(start, stop, self._frames, self.stride, fill_tail_only=self.mode == "fast")

    # -- one window ---------------------------------------------------------------------------

    def run_window(self, frames: Tensor) -> Tensor:
        """Run one window: ``frames`` (t, 3, H, W) float, 1 <= t <= T, any H and W.

        Returns (t, 3, H, W) float32 on the CPU, not clamped (`combine` clamps after blending).
        Short windows are bounced to T frames, frames are padded and tiled, and cropped back.
        """
        return self.run_windows([frames])[0]

    def run_windows(self, windows: Sequence[Tensor]) -> list[Tensor]:
        """`run_window` for several windows, sending ``batch_size`` equal-sized tiles per forward call."""
        prepared = [self._prepare(x) for x in windows]
        jobs = [(w, hs, ws) for w, (x, ah, aw) in enumerate(prepared)
                for hs in range(len(ah.starts)) for ws in range(len(aw.starts))]
        results: list[list[Tensor]] = [[] for _ in prepared]
        for first in range(0, len(jobs), self.batch_size):
            batch = jobs[first:first + self.batch_size]
            crops = [self._crop(prepared[w], hs, ws) for w, hs, ws in batch]
            shape = crops[0].shape
            if any(c.shape != shape for c in crops):  # different frame sizes: run them one by one
                outputs = [self._forward(c[None])[0] for c in crops]
            else:
                outputs = list(self._forward(torch.stack(crops)))
            for (w, _, _), output in zip(batch, outputs):
                results[w].append(output)
        return [self._blend(x, ah, aw, tiles, t)
                for (x, ah, aw), tiles, t in zip(prepared, results, (len(x) for x in windows))]

    def _axes_for(self, height: int, width: int) -> tuple[_Axis, _Axis]:
        key = (height, width)
        if key not in self._axes:
            self._axes[key] = (_Axis.build(height, self.tile[0], self.tile_overlap[0], self.min_size),
                               _Axis.build(width, self.tile[1], self.tile_overlap[1], self.min_size))
        return self._axes[key]

    def _prepare(self, frames: Tensor) -> tuple[Tensor, _Axis, _Axis]:
        if not isinstance(frames, Tensor) or frames.ndim != 4 or frames.shape[1] != 3:
            shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
            raise ValueError(f"run_window takes a (t, 3, H, W) float tensor, got {shape}.")
        if not 1 <= frames.shape[0] <= self._frames:
            raise ValueError(f"run_window takes 1 to T={self._frames} frames, got {frames.shape[0]}: "
                             "use the Derainer itself (or plan()) for longer clips.")
        height, width = frames.shape[-2:]
        axis_h, axis_w = self._axes_for(height, width)
        x = frames.to(device=self.device, dtype=torch.float32)
        if x.shape[0] < self._frames:
            x = x[_bounce(x.shape[0], self._frames)]
        x = _pad_axis(_pad_axis(x, axis_h.padded - height, -2), axis_w.padded - width, -1)
        return x, axis_h, axis_w

    @staticmethod
    def _crop(prepared: tuple[Tensor, _Axis, _Axis], h_tile: int, w_tile: int) -> Tensor:
        x, axis_h, axis_w = prepared
        hs, ws = axis_h.starts[h_tile], axis_w.starts[w_tile]
        return x[..., hs:hs + axis_h.tile, ws:ws + axis_w.tile]

    def _forward(self, batch: Tensor) -> Tensor:
        if self.device.type == "cpu":
            # Trained weights drive some activations and scan states below 1e-38 (denormal floats),
            # which make CPU arithmetic up to 30% slower; flushing them to zero (in the calling thread,
            # which may be a VapourSynth worker) changes nothing visible.
            torch.set_flush_denormal(True)
        autocast = (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype != torch.float32
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            output = self.net(batch)
        if not isinstance(output, Tensor) or output.shape != batch.shape:
            got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(f"The network returned {got} for an input of {tuple(batch.shape)}: "
                             "it must map (B, T, 3, H, W) to the same shape.")
        return output.float()

    def _masks_for(self, axis_h: _Axis, axis_w: _Axis) -> tuple[list[Tensor], Tensor]:
        """Each tile's 2-D blend mask and their sum over the frame, made once per frame size on the
        engine's device (copying a mask from the host for every tile would make a GPU wait each time)."""
        key = (axis_h.size, axis_w.size)
        if key not in self._blend_masks:
            masks = [(mh[:, None] * mw[None, :]).to(self.device) for mh in axis_h.masks for mw in axis_w.masks]
            weight = torch.zeros(axis_h.padded, axis_w.padded, dtype=torch.float32, device=self.device)
            for (h0, w0), mask in zip(_tile_corners(axis_h, axis_w), masks):
                weight[h0:h0 + axis_h.tile, w0:w0 + axis_w.tile] += mask
            self._blend_masks[key] = masks, weight
        return self._blend_masks[key]

    def _blend(self, x: Tensor, axis_h: _Axis, axis_w: _Axis, tiles: list[Tensor], frames: int) -> Tensor:
        """Weighted sum of the tiles over the sum of weights (the authors' band-trimming blend)."""
        if len(tiles) == 1:
            merged = tiles[0]
        else:
            masks, weight = self._masks_for(axis_h, axis_w)
            merged = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
            for (h0, w0), mask, tile in zip(_tile_corners(axis_h, axis_w), masks, tiles):
                merged[..., h0:h0 + axis_h.tile, w0:w0 + axis_w.tile] += tile * mask
            merged = merged / weight
        # A copy made outside inference mode: callers may keep or modify it freely.
        return merged[:frames, :, :axis_h.size, :axis_w.size].to("cpu", torch.float32, copy=True).contiguous()

    # -- whole videos and streams ---------------------------------------------------------------

    def __call__(self, video: Video, cuts: Cuts = None) -> Video:
        """Derain a video (N, 3, H, W), uint8 or float in [0, 1], numpy or torch.

        Returns the same kind and shape (float input -> float32, clamped to [0, 1]; uint8 ->
        rounded uint8); memory inside the engine is bounded by a few windows, not by N.
        ``cuts``: indices where a new shot starts, or one bool per frame.
        """
        _check_video(video)
        n = int(video.shape[0])
        cut_set = set(_cut_indices(cuts, n))
        uint8 = video.dtype in (np.uint8, torch.uint8)
        if isinstance(video, np.ndarray):
            out: Video = np.empty(video.shape, np.uint8 if uint8 else np.float32)
        else:
            out = torch.empty(video.shape, dtype=torch.uint8 if uint8 else torch.float32, device=video.device)
        driver = _Driver(self)
        kind = None
        for i in range(n):
            frame, kind = _frame_in(video[i], i, self.device)
            for j, result in driver.push(frame, i in cut_set):
                out[j] = _frame_out(result, kind)
        for j, result in driver.finish():
            out[j] = _frame_out(result, kind)
        return out

    def stream(self, frames: Iterable[Any], cuts: Iterable[int] | Sequence[bool] | None = None) -> Iterator[Video]:
        """Derain frames one by one, yielding every output frame in order as soon as it is final.

        ``frames``: (3, H, W) frames (uint8 or float, numpy or torch, one size), or ``(frame,
        is_cut)`` pairs. ``cuts``: a set of indices where a new shot starts, or one bool per frame.
        Holds at most `max_buffered_frames` input frames; gives exactly what `__call__` gives.
        """
        is_cut = _stream_cuts(cuts)
        driver = _Driver(self)
        kinds: dict[int, _Kind] = {}
        for i, item in enumerate(frames):
            frame, flag = item if isinstance(item, tuple) else (item, False)
            tensor, kinds[i] = _frame_in(frame, i, self.device)
            for j, result in driver.push(tensor, bool(flag) or is_cut(i)):
                yield _frame_out(result, kinds.pop(j))
        for j, result in driver.finish():
            yield _frame_out(result, kinds.pop(j))


def _stream_cuts(cuts: Iterable[int] | Sequence[bool] | None):
    """A test ``i -> bool`` for stream cuts given as indices or per-frame flags."""
    if cuts is None:
        return lambda i: False
    if isinstance(cuts, np.ndarray) and cuts.dtype == np.bool_ or _is_flag_sequence(cuts):
        flags = [bool(c) for c in cuts]
        return lambda i: i < len(flags) and flags[i]
    indices = {_as_index(c) for c in cuts}
    return indices.__contains__


class _Driver:
    """One incremental pass over a stream: plans windows as frames arrive, runs them in batches,
    and releases each output frame once every window that can touch it is known and computed.

    A regular window starting at c is certain once frame c + T exists (the stream goes past it);
    the shot's last window is known when the shot ends (a cut or the end of the stream). The
    windows it schedules are exactly `Derainer.plan` for the same frames and cuts.
    """

    def __init__(self, engine: Derainer) -> None:
        self.engine = engine
        self.T, self.stride = engine.frames, engine.stride
        self.fill_tail_only = engine.mode == "fast"
        self.inputs: dict[int, Tensor] = {}
        self.queue: list[Window] = []        # scheduled, not yet computed
        self.done: list[Window] = []         # computed, still needed for output
        self.outputs: dict[Window, Tensor] = {}
        self.shape: tuple[int, ...] | None = None
        self.shot_start = 0
        self.confirmed = 0                   # regular windows of the current shot scheduled so far
        self.seen = 0
        self.emitted = 0
        self.peak_buffered = 0
        self.ended = False

    def push(self, frame: Tensor, cut: bool) -> list[tuple[int, Tensor]]:
        index = self.seen
        if self.shape is None:
            self.shape = tuple(frame.shape)
        elif tuple(frame.shape) != self.shape:
            raise ValueError(f"Frame {index} is {frame.shape[-2]}x{frame.shape[-1]} but earlier frames are "
                             f"{self.shape[-2]}x{self.shape[-1]}: one stream must keep one frame size.")
        if cut and index > self.shot_start:
            self._close_shot(index)
        self.inputs[index] = frame
        self.seen += 1
        self.peak_buffered = max(self.peak_buffered, len(self.inputs))
        while self._next_regular() + self.T < self.seen:
            start = self._next_regular()
            self._schedule(Window(start, start + self.T, (1.0,) * self.T))
            self.confirmed += 1
        return self._release()

    def finish(self) -> list[tuple[int, Tensor]]:
        if self.seen == 0:
            raise ValueError("The video has no frames: give at least one frame.")
        self._close_shot(self.seen)
        self._compute()
        self.ended = True
        return self._release()

    def _next_regular(self) -> int:
        return self.shot_start + self.confirmed * self.stride

    def _close_shot(self, stop: int) -> None:
        windows = self.engine._segment_plan(self.shot_start, stop)
        for window in windows[self.confirmed:]:
            self._schedule(window)
        self.shot_start, self.confirmed = stop, 0

    def _schedule(self, window: Window) -> None:
        self.queue.append(window)
        if len(self.queue) >= self.engine.batch_size:
            self._compute()

    def _compute(self) -> None:
        if not self.queue:
            return
        clips = [torch.stack([self.inputs[i] for i in range(w.start, w.stop)]) for w in self.queue]
        for window, output in zip(self.queue, self.engine.run_windows(clips)):
            self.done.append(window)
            self.outputs[window] = output
        self.queue = []

    def _release(self) -> list[tuple[int, Tensor]]:
        """Blend and return the frames no future window can change; drop what is no longer needed."""
        # Future windows of this shot start at or after max(shot_start, seen - T).
        horizon = max(self.shot_start, self.seen - self.T)
        if self.ended:
            final = self.seen
        else:
            final = horizon
            if self.fill_tail_only and self.confirmed:  # the last window only fills frames after these
                final = max(final, self._next_regular() - self.stride + self.T)
            final = min(final, self._next_regular())
            if self.queue:
                final = min(final, self.queue[0].start)
        released = []
        for index in range(self.emitted, final):
            covering = windows_covering(self.done, index)
            released.append((index, combine(index, ((w, self.outputs[w]) for w in covering))))
        self.emitted = max(self.emitted, final)
        while self.done and self.done[0].stop <= self.emitted:
            del self.outputs[self.done.pop(0)]
        keep_from = min([horizon] + [w.start for w in self.queue])
        for index in [i for i in self.inputs if i < keep_from]:
            del self.inputs[index]
        return released


# ----------------------------------------------------------------------------------------------
# Argument parsing
# ----------------------------------------------------------------------------------------------

def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """An int or a 2-sequence of ints as an (H, W) pair."""
    values = [value, value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else list(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} must be an int or an (H, W) pair of ints, got {value!r}.")
    return int(values[0]), int(values[1])


def _split_overlap(overlap: int | Sequence[int], default_frames: int) -> tuple[int, int | Sequence[int]]:
    """Split a (T, H, W) overlap into its temporal part and (H, W); an int or pair keeps the default T."""
    if isinstance(overlap, (list, tuple)) and len(overlap) == 3:
        if not isinstance(overlap[0], (int, np.integer)) or isinstance(overlap[0], bool):
            raise ValueError(f"tile_overlap must hold ints, got {overlap!r}.")
        return int(overlap[0]), tuple(overlap[1:])
    return int(default_frames), overlap


def _resolve_device(device: str | int | torch.device | None, net: nn.Module) -> torch.device:
    """None: where the network's weights are; anything else as :func:`models.devices.resolve_device` reads it."""
    if device is None:
        tensor = next(iter(net.parameters()), None)
        if tensor is None:
            tensor = next(iter(net.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")
    return resolve_device(device)


def _resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.float32
    resolved = _DTYPES.get(dtype.lower()) if isinstance(dtype, str) else dtype
    if resolved not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"Unsupported dtype {dtype!r}: use float32, float16 or bfloat16.")
    if resolved == torch.float16 and device.type != "cuda":
        raise ValueError(f"dtype {dtype!r} needs a CUDA device (a CPU has no fast float16); on {device.type} "
                         "use bfloat16 or float32 (the default).")
    return resolved
