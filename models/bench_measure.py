"""The measurements behind ``rainmamba bench``: timers, peak memory, and the three things timed.

1. the scan alone (each backend, same inputs, error against the per-step loop);
2. one network window of a preset, with our scan and with the per-step scan (the authors' forward);
3. the whole engine on a synthetic clip, streamed frame by frame so that peak memory shows whether
   it grows with the clip length.

Each function returns plain dicts (one row per measurement) that the CLI prints and writes as JSON.
"""
from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from . import scan
from .bench_profile import of_floor
from .memory import keep_large_tensors_on_the_heap, large_tensors_kept_on_the_heap
from .sizes import parse_size

Row = dict[str, Any]


# -- clocks and memory -------------------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device, repeat: int = 3, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones (GPU synchronised)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the lifetime peak, the best the OS offers here
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_rss_high_water() -> bool:
    """Restart Linux's peak-RSS counter (VmHWM) from the current RSS; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss_high_water() -> int:
    """VmHWM: the peak RSS since the last reset (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakMemory(contextlib.AbstractContextManager):
    """Peak memory inside a ``with`` block: CUDA allocator peak on a GPU; process RSS on CPU.

    ``peak`` is the highest value reached, ``extra`` the rise above the value at entry (what the block
    itself needed). On Linux the kernel's peak-RSS counter is reset at entry and read at exit (exact, and
    nothing runs beside the measured code); elsewhere RSS is sampled every 2 ms by a thread, so very short spikes may be missed. Memory freed
    earlier but kept by the allocator can be reused without raising RSS: measure in a fresh process
    for an exact ``extra`` (the engine bench does).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = self.extra = self.start = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hwm = False

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self.start = self.peak = _rss_bytes()
            self._hwm = _reset_rss_high_water()
            if not self._hwm:  # a polling thread competes for the GIL and the cores: only when needed
                self._thread = threading.Thread(target=self._sample, daemon=True)
                self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.peak = max(self.peak, _rss_bytes(), _rss_high_water() if self._hwm else 0)
        self.extra = max(0, self.peak - self.start)


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers came from: CPU model and cores, torch/numba versions, GPU name, the allocator setting."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    info: dict[str, Any] = {
        "cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "scan_backends": scan.backend_report(), "large_tensors_on_the_heap": large_tensors_kept_on_the_heap(),
    }
    with contextlib.suppress(ImportError):
        import numba
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def _stats(times: list[float]) -> dict[str, float]:
    return {"best_s": min(times), "median_s": float(np.median(times)), "runs": len(times)}


# -- 1. the scan alone --------------------------------------------------------------------------------

def scan_inputs(length: int, dim: int, n_state: int, device: torch.device, dtype: torch.dtype,
                seed: int = 0, batch: int = 1) -> dict[str, torch.Tensor]:
    """Inputs shaped like one direction of a bimamba layer: softplus'd delta around 0.1-1, A = -(1..N); the
    (B, ., L) ones laid out as the layer lays them out on ``device`` (``models.scan.token_major``)."""
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "u": torch.randn(batch, dim, length, generator=g),
        "delta": torch.randn(batch, dim, length, generator=g) - 1.0,
        "A": -torch.arange(1, n_state + 1, dtype=torch.float32).repeat(dim, 1),
        "B": torch.randn(batch, n_state, length, generator=g), "C": torch.randn(batch, n_state, length, generator=g),
        "D": torch.ones(dim), "z": torch.randn(batch, dim, length, generator=g),
        "delta_bias": torch.zeros(dim),
    }
    keep_fp32 = ("A", "D", "delta_bias")
    inputs = {k: v.to(device=device, dtype=torch.float32 if k in keep_fp32 else dtype) for k, v in inputs.items()}
    if scan.token_major(device):
        inputs = {k: v.transpose(1, 2).contiguous().transpose(1, 2) if v.dim() == 3 else v for k, v in inputs.items()}
    return inputs


def bench_scan(device: torch.device, dtype: torch.dtype, length: int, dim: int, n_state: int,
               backends: list[str], repeat: int, log: Callable[[str], None], batch: int = 1,
               grad: bool = False) -> list[Row]:
    """Time each scan backend on the same call; ratio and max error against the per-step loop.

    Without ``grad`` the call is an inference one (no autograd). With ``grad`` it is a training step:
    forward and backward to every input (backends without a backward are reported as skipped), and
    the error covers the output and the gradients.
    """
    inputs = scan_inputs(length, dim, n_state, device, dtype, batch=batch)
    if grad:
        inputs = {k: v.requires_grad_(True) for k, v in inputs.items()}
        upstream = torch.randn(batch, dim, length, generator=torch.Generator().manual_seed(1)).to(device, dtype)

    def call() -> torch.Tensor:
        if not grad:
            with torch.no_grad():
                return scan.selective_scan(**inputs, delta_softplus=True).float().flatten()
        output = scan.selective_scan(**inputs, delta_softplus=True)
        grads = torch.autograd.grad(output, list(inputs.values()), upstream)
        return torch.cat([t.detach().float().flatten() for t in (output, *grads)])

    rows: list[Row] = []
    reference = ref_time = None
    kind = "forward+backward" if grad else "forward"
    for name in ["ref", *[b for b in backends if b != "ref"]]:
        with scan.use_scan_backend(name):
            try:
                scan.choose_backend(inputs["u"], needs_grad=grad)
            except RuntimeError as exc:
                rows.append({"section": "scan", "backend": name, "pass": kind, "skipped": str(exc)})
                continue
            log(f"scan {kind}: {name} ...")
            first = time.perf_counter()
            output = call()
            _sync(device)
            first = time.perf_counter() - first
            times = time_call(call, device, 1 if name == "ref" else repeat, warmup=0)
        row: Row = {"section": "scan", "backend": name, "pass": kind, "device": device.type,
                    "dtype": str(dtype)[6:], "shape": f"B={batch} D={dim} L={length} N={n_state}",
                    "first_call_s": first, **_stats(times)}
        if name == "ref":
            reference, ref_time = output, min(times)
        else:
            assert reference is not None and ref_time is not None
            row["max_rel_err_vs_ref"] = float((output - reference).abs().max() / reference.abs().max())
            row["speedup_vs_ref"] = ref_time / min(times)
        rows.append(row)
    return rows


# -- 2. one window of a preset -------------------------------------------------------------------------

@contextlib.contextmanager
def _precision(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    if dtype == torch.float32:
        yield
    else:
        with torch.autocast(device.type, dtype=dtype):
            yield


def bench_window(net: torch.nn.Module, device: torch.device, dtype: torch.dtype, repeat: int,
                 authors_scan: str | None, log: Callable[[str], None]) -> Row:
    """One (1, T, 3, tileH, tileW) forward in ``dtype``: ours (automatic scan choice) when ``authors_scan``
    is None, else the authors' forward with that scan (timed once, without a warm-up: it is slow)."""
    preset, window = net.preset, net.preset.protocol
    x = torch.rand(1, window.frames, 3, *window.tile, generator=torch.Generator().manual_seed(0)).to(device)
    label = "ours" if authors_scan is None else "authors"
    log(f"window: {preset.name} {label} (scan {authors_scan or 'auto'}, {str(dtype)[6:]}) ...")
    with scan.use_scan_backend(authors_scan), torch.inference_mode(), _precision(device, dtype):
        with PeakMemory(device) as memory:
            times = time_call(lambda: net(x), device, repeat if label == "ours" else 1,
                              warmup=1 if label == "ours" else 0)
        backend_used = scan.choose_backend(x.new_zeros(1, 1, 1, dtype=dtype))
    row: Row = {"section": "window", "preset": preset.name, "variant": label, "scan": backend_used,
                "device": device.type, "dtype": str(dtype)[6:],
                "window": f"{window.frames}x{window.tile[0]}x{window.tile[1]}",
                "peak_mem_mb": memory.peak / 2**20, "extra_mem_mb": memory.extra / 2**20, **_stats(times)}
    row["frames_per_s"] = window.frames / row["best_s"]
    row["ms_per_window"] = 1e3 * row["best_s"]
    return row


# -- 3. the whole engine ---------------------------------------------------------------------------------

def synthetic_frames(n: int, height: int, width: int, seed: int = 0) -> Iterator[np.ndarray]:
    """``n`` (3, H, W) uint8 frames made on the fly (like a decoder), so the clip is never all in memory."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (3, height, width), dtype=np.uint8)
    for i in range(n):
        yield np.roll(base, i, axis=2)


def load_network(name: str) -> torch.nn.Module:
    """``shipped``: the default model with its trained weights (`models.resolve_model`); else a preset
    with random weights (speed does not depend on them, except for denormals, which the engine flushes)."""
    from . import build, resolve_model
    if name == "shipped":
        return resolve_model(None).eval()
    torch.manual_seed(0)
    return build(name).eval()


def _stream_once(net: torch.nn.Module, size: str, frames: int, device: torch.device, dtype: torch.dtype,
                 mode: str, batch_size: int, backend: str | None, tile: int | None = None) -> dict[str, Any]:
    """Warm up on one tile, then stream the clip; seconds, tile forwards and memory of the streaming."""
    from .engine import Derainer

    height, width = parse_size(size, named=True)
    engine = Derainer(net, mode=mode, device=device, dtype=dtype, batch_size=batch_size, tile=tile)
    forwards = [0]
    handle = net.register_forward_pre_hook(lambda module, args: forwards.__setitem__(0, forwards[0] + len(args[0])))
    try:
        with scan.use_scan_backend(backend):
            tile = [t or s for t, s in zip(engine.tile_for(height, width), (height, width))]
            engine.run_window(torch.rand(net.preset.protocol.frames, 3, min(tile[0], height), min(tile[1], width)))
            forwards[0] = 0
            with PeakMemory(device) as memory:
                start = time.perf_counter()
                for _ in engine.stream(synthetic_frames(frames, height, width)):
                    pass
                _sync(device)
                seconds = time.perf_counter() - start
    finally:
        handle.remove()
    used = engine.tile_for(height, width)
    return {"seconds": seconds, "tile_forwards": forwards[0], "peak_mem_mb": memory.peak / 2**20,
            "extra_mem_mb": memory.extra / 2**20, "tile": "whole frame" if used == (0, 0) else f"{used[0]}x{used[1]}"}


def _stream_in_child(threads: int, heap: bool, model: str, *args: Any) -> dict[str, Any]:
    """``_stream_once`` for a freshly loaded ``model`` (`load_network`): run in a spawned process by the CPU bench,
    with the parent's threads and allocator setting (`models.memory`)."""
    torch.set_num_threads(threads)
    if heap:
        keep_large_tensors_on_the_heap()
    return _stream_once(load_network(model), *args)


def _stream(net: torch.nn.Module, size: str, frames: int, device: torch.device, dtype: torch.dtype, mode: str,
            batch_size: int, backend: str | None, tile: int | None = None, model: str | None = None) -> dict[str, Any]:
    """On CPU each run gets a fresh process, so that its RSS peak is its own (freed memory is not
    always handed back to the OS, and earlier sections would otherwise hide the engine's peak)."""
    if device.type != "cpu":
        return _stream_once(net, size, frames, device, dtype, mode, batch_size, backend, tile)
    import concurrent.futures
    import multiprocessing
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_stream_in_child, torch.get_num_threads(), large_tensors_kept_on_the_heap(),
                           model or net.preset.name, size, frames,
                           device, dtype, mode, batch_size, backend, tile).result()


def bench_engine(net: torch.nn.Module, size: str, frames: int, device: torch.device, dtype: torch.dtype,
                 mode: str, batch_size: int, authors_scan: str | None, authors_tile_s: float | None,
                 measure_authors: bool, log: Callable[[str], None], tile: int | None = None,
                 model: str | None = None, floor: Row | None = None) -> list[Row]:
    """Stream a synthetic clip through ``models.Derainer``; frames/s, peak memory, ratio to the authors'.

    The authors' protocol is official mode with their scan. It is measured when ``measure_authors``;
    otherwise estimated from the measured time of one authors' window tile (``authors_tile_s``) times
    the number of tile forwards the official plan needs for this clip (marked ``estimated``).
    ``tile`` overrides the engine's choice (0: whole frame; see `Derainer`); ``model`` names the network for the fresh
    process (`load_network`); ``floor`` (`bench_profile.floor_row`) adds each row's share of the floor.
    """
    from .engine import Derainer

    height, width = parse_size(size, named=True)
    log(f"engine: {net.preset.name} {size} x{frames} {mode} ...")
    ours = _stream(net, size, frames, device, dtype, mode, batch_size, None, tile, model)
    windows = len(Derainer(net, mode=mode, device=device).plan(frames))
    row: Row = {"section": "engine", "preset": net.preset.name, "variant": "ours", "mode": mode,
                "device": device.type, "dtype": str(dtype)[6:], "size": f"{size} ({height}x{width})",
                "frames": frames, "frames_per_s": frames / ours["seconds"],
                "ms_per_window": 1e3 * ours["seconds"] / windows, **ours}
    rows = [row]
    if floor is not None:
        row["of_floor"] = of_floor(floor["flop_per_pixel"], floor["matmul_gflop_per_s"] * 1e9,
                                   frames * height * width, ours["seconds"])
    if not authors_scan:
        return rows
    if measure_authors:
        log(f"engine: {net.preset.name} {size} x{frames} authors' protocol (official, scan {authors_scan}) ...")
        authors = dict(_stream(net, size, frames, device, torch.float32, "official", 1, authors_scan,
                                       tile, model),
                       estimated=False)
    elif authors_tile_s is not None:
        official = Derainer(net, mode="official", device=device, tile=tile)
        tiles_per_window = len(official._tiler(height, width).corners)   # the preset's tiles, or --tile
        official_windows = len(official.plan(frames))
        forwards = round(official_windows * tiles_per_window)
        authors = {"seconds": forwards * authors_tile_s, "estimated": True, "tile_forwards": forwards}
    else:
        return rows
    rows.append({"section": "engine", "preset": net.preset.name, "variant": "authors", "mode": "official",
                 "scan": authors_scan, "device": device.type, "dtype": "float32", "size": row["size"],
                 "frames": frames, "frames_per_s": frames / authors["seconds"], **authors})
    row["speedup_vs_authors"] = authors["seconds"] / ours["seconds"]
    return rows
