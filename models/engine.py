"""The video engine: runs a RainMamba network over whole videos, frame streams and single windows.

The network sees T frames of a bounded size at a time. Real videos are longer and larger, have odd
sizes and scene cuts. `Derainer` ties the engine's parts together:

- `models.options`: the settings, checked in the caller's own terms, and the device rule;
- `models.plan`: shots, temporal windows (``official``: the authors' overlapping windows and mean;
  ``fast``: each frame computed once), the windows covering a frame, the blend (`combine`);
- `models.tiles`: padding, spatial tiles and the authors' band-trimmed tile blending;
- `models.convert`: frames in and out, and the value contract (values checked, clamped for the
  network, and what lies outside [0, 1] kept);
- `models.stream`: the bounded incremental driver behind `__call__` and `stream`.

Random-access callers (the VapourSynth filter) use `windows_for` (or `plan` and `windows_covering`),
`run_window` and `combine`; `__call__` and `stream` are built from the same pieces, so every path
gives the same frames (bit for bit on the CPU with ``batch_size=1``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .convert import Video, network_input
from .network import MIN_SIZE, SIZE_MULTIPLE
from .options import EngineOptions
from .plan import Cuts, Planner, Window, bounce
from .stream import derain_stream, derain_video
from .tiles import WINDOW_MEMORY, Tiler

__all__ = ["Derainer"]


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
            A frame side smaller than the tile runs as one padded tile. In fast mode, for presets
            whose ``protocol.fast_whole_frames`` is set (the shipped model's), None runs whole frames
            when a window of them fits in `tiles.WINDOW_MEMORY` (1080p does), else the largest square
            tile that fits (never smaller than the preset's); pass the preset's tile to get it back.
        tile_overlap: spatial overlap, an int, (H, W), or (T, H, W) whose T sets the official stride
            when ``stride`` is None. None: the preset's. Must be smaller than the tile.
        device: None (automatic: the first CUDA GPU when there is one, else the CPU; see
            `models.options`), "cpu", "cuda", "cuda:N" or an int N.
        dtype: float32 (default), or float16 (CUDA) / bfloat16 (CUDA or CPU), run via autocast with the
            scan state kept in float32. On a CPU with AVX-512 BF16 or AMX, bfloat16 is about 1.2-1.5x
            faster for the larger presets.
        batch_size: window tiles of equal size per forward call.
        options: settings already parsed by a front-end (`EngineOptions.parse` with its spelling),
            instead of the keywords above.

    Frames and values: see `models.convert` (float input on the 0..1 scale keeps its values outside
    [0, 1]; uint8 output is rounded). On a CPU the engine turns on ``torch.set_flush_denormal(True)``
    in the threads that run it (as the trainer does): floats below 1e-38 become 0, which keeps
    trained networks fast.
    """

    def __init__(self, net: nn.Module, mode: str = "fast", stride: int | None = None,
                 tile: int | Sequence[int] | None = None, tile_overlap: int | Sequence[int] | None = None,
                 device: str | int | torch.device | None = None, dtype: str | torch.dtype | None = None,
                 batch_size: int = 1, *, options: EngineOptions | None = None) -> None:
        preset = getattr(net, "preset", None)
        if preset is None:
            raise ValueError("The network has no .preset: build it with models.build()/models.load(), "
                             "or set net.preset to a models.Preset.")
        if options is None:
            options = EngineOptions.parse(mode=mode, stride=stride, tile=tile, tile_overlap=tile_overlap,
                                          device=device, dtype=dtype, batch_size=batch_size)
        # RainMamba's encoder needs 32 px; another net may declare its own minimum as ``net.min_size``.
        min_size = max(SIZE_MULTIPLE, int(getattr(net, "min_size", MIN_SIZE)))
        geometry = options.fit(int(preset.protocol.frames), preset.protocol.tile, preset.protocol.tile_overlap, min_size)
        self.options = options
        self.preset = preset
        self.mode = options.mode
        self.min_size = min_size
        self.tile, self.tile_overlap, self.stride = geometry.tile, geometry.tile_overlap, geometry.stride
        self.batch_size = options.batch_size
        self.device, self.dtype = options.device, options.dtype
        self.planner = Planner(geometry.frames, geometry.stride, fill_tail_only=self.mode == "fast")
        self.net = net.to(self.device).eval()
        self._tiler = Tiler(self.tile, self.tile_overlap, min_size, self.device, self._budget_pixels(options))

    def _budget_pixels(self, options: EngineOptions) -> int | None:
        """Tile pixels a forward may hold when the engine picks the tile (fast mode, no tile given, a
        preset measured to keep its quality on whole frames); None: always the given or preset tile."""
        protocol, arch = self.preset.protocol, getattr(self.preset, "arch", None)
        if options.tile is not None or self.mode != "fast" or not protocol.fast_whole_frames or arch is None:
            return None
        return WINDOW_MEMORY // (arch.bytes_per_pixel * self.frames * self.batch_size)

    def tile_for(self, height: int, width: int) -> tuple[int, int]:
        """The tile (H, W) that frames of this size are cut into; 0 = the whole frame."""
        return self._tiler.tile_for(height, width)

    @property
    def frames(self) -> int:
        """T: frames per window."""
        return self.planner.frames

    @property
    def max_buffered_frames(self) -> int:
        """The most input frames `stream` (and `__call__`) hold at once.

        T + 1 with ``batch_size=1``; each extra batched window may keep up to T more frames alive.
        """
        return self.batch_size * self.frames + 1

    # -- planning -----------------------------------------------------------------------------

    def plan(self, n_frames: int, cuts: Cuts = None) -> list[Window]:
        """The windows for a video of ``n_frames`` frames, sorted by start; ``cuts`` (indices where a
        new shot starts, or one bool per frame) split it into shots that no window spans."""
        return self.planner.plan(n_frames, cuts)

    def windows_for(self, n: int, shot_start: int, shot_stop: int) -> list[Window]:
        """The windows that give frame ``n`` of the shot ``[shot_start, shot_stop)`` weight, in plan
        order (random access: compute them with `run_window`, blend them with `combine`). Any
        ``shot_stop >= n + 2T`` gives the same windows, so the shot's end need not be looked for
        farther than that."""
        return self.planner.covering(n, shot_start, shot_stop)

    # -- windows ------------------------------------------------------------------------------

    def run_window(self, frames: Tensor, start: int = 0) -> Tensor:
        """Run one window: ``frames`` (t, 3, H, W) float, 1 <= t <= T, any H and W; ``start`` is
        the index of ``frames[0]`` in the video (for error messages).

        Returns (t, 3, H, W) float32 on the CPU, not clamped (`combine` clamps after blending).
        Values are checked and clamped to [0, 1] for the network (`convert.network_input`); short
        windows are bounced to T frames, frames are padded and tiled, and cropped back.
        """
        return self.run_windows([frames], [start])[0]

    def run_windows(self, windows: Sequence[Tensor], starts: Sequence[int] | None = None) -> list[Tensor]:
        """`run_window` for several windows, sending ``batch_size`` equal-sized tiles per forward call."""
        starts = [0] * len(windows) if starts is None else starts
        prepared = [self._prepare(x, start) for x, start in zip(windows, starts)]
        jobs = [(w, corner) for w, (_, tiling) in enumerate(prepared) for corner in tiling.corners]
        results: list[list[Tensor]] = [[] for _ in prepared]
        for first in range(0, len(jobs), self.batch_size):
            batch = jobs[first:first + self.batch_size]
            crops = [prepared[w][1].tile(prepared[w][0], corner) for w, corner in batch]
            if any(c.shape != crops[0].shape for c in crops):  # different frame sizes: run them one by one
                outputs = [self._forward(c[None])[0] for c in crops]
            else:
                outputs = list(self._forward(torch.stack(crops)))
            for (w, _), output in zip(batch, outputs):
                results[w].append(output)
        return [tiling.blend(tiles, len(x)) for (_, tiling), tiles, x in zip(prepared, results, windows)]

    def _prepare(self, frames: Tensor, start: int):
        if not isinstance(frames, Tensor) or frames.ndim != 4 or frames.shape[1] != 3:
            shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
            raise ValueError(f"run_window takes a (t, 3, H, W) float tensor, got {shape}.")
        if not 1 <= frames.shape[0] <= self.frames:
            raise ValueError(f"run_window takes 1 to T={self.frames} frames, got {frames.shape[0]}: "
                             "use the Derainer itself (or plan()) for longer clips.")
        tiling = self._tiler(*frames.shape[-2:])
        x = network_input(frames.to(device=self.device, dtype=torch.float32), start)
        if x.shape[0] < self.frames:
            x = x[bounce(x.shape[0], self.frames)]
        return tiling.pad(x), tiling

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

    # -- whole videos and streams ---------------------------------------------------------------

    def __call__(self, video: Video, cuts: Cuts = None) -> Video:
        """Derain a video (N, 3, H, W), uint8 or float on the 0..1 scale, numpy or torch.

        Returns the same kind and shape (float input -> float32, uint8 -> rounded uint8); memory
        inside the engine is bounded by a few windows, not by N. ``cuts``: indices where a new shot
        starts, or one bool per frame.
        """
        return derain_video(self, video, cuts)

    def stream(self, frames: Iterable[Any], cuts: Cuts = None) -> Iterator[Video]:
        """Derain frames one by one, yielding every output frame in order as soon as it is final.

        ``frames``: (3, H, W) frames (uint8 or float, numpy or torch, one size), or ``(frame,
        is_cut)`` pairs. ``cuts``: indices where a new shot starts, or one bool per frame.
        Holds at most `max_buffered_frames` input frames; gives exactly what `__call__` gives.
        """
        return derain_stream(self, frames, cuts)
