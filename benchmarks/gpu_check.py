"""One prepared run for a lent GPU machine: are the GPU numbers right, and how fast is 1080p?

    python benchmarks/gpu_check.py                 # on the GPU machine, from the repository root
    python benchmarks/gpu_check.py --device cpu --quick   # a dry run of the script's logic on a CPU

(a) Correctness, GPU against the CPU path (the CPU path is what CPU users run: numba scan, float32):
    the scan alone at the vrds shapes (every GPU backend usable there), then one ``tiny`` and one
    ``vrds`` window in fast mode (``Derainer.run_window``) in float32, float16 and bfloat16.
(b) Speed: the ``vrds`` preset, fast mode, a synthetic 1080p clip streamed through ``models.Derainer``
    in float16, bfloat16 and float32 (and a larger tile batch): frames/s and peak GPU memory.
(c) Last, if the budget allows: does ``torch.compile`` speed up a batch of vrds tiles in float16?

Prints one summary and writes ``gpu_check.json`` to $OUT (or --out). Finishes within --budget seconds
(default 270): what does not fit is reported as skipped. Needs no network; ``--install`` tries
``pip install mamba-ssm causal-conv1d`` first (only works where a registry is reachable).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import models  # noqa: E402
from models import bench_measure as bm  # noqa: E402
from models import scan  # noqa: E402
from models.backends import mamba_cuda  # noqa: E402

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class Budget:
    """Wall-clock budget: each step asks whether it may still start."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|, both as float64 on the CPU."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of a against b after clamping both to [0, 1] (what a user sees)."""
    mse = float(((a.double().cpu().clamp(0, 1) - b.double().cpu().clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def check_scan(device: torch.device, length: int, results: dict) -> None:
    inputs = bm.scan_inputs(length, 256, 16, torch.device("cpu"), torch.float32)
    with torch.no_grad():
        cpu_backend = scan.choose_backend(inputs["u"])
        expected = scan.selective_scan(**inputs, delta_softplus=True)
        expected_reverse = scan.selective_scan(**inputs, delta_softplus=True, reverse=True)
        for backend in ("cuda", "torch", "triton"):
            for name, dtype in DTYPES.items():
                key = f"scan/{backend}/{name}"
                gpu_inputs = bm.scan_inputs(length, 256, 16, device, dtype)
                try:
                    with scan.use_scan_backend(backend):
                        got = scan.selective_scan(**gpu_inputs, delta_softplus=True)
                        got_reverse = scan.selective_scan(**gpu_inputs, delta_softplus=True, reverse=True)
                        times = bm.time_call(lambda: scan.selective_scan(**gpu_inputs, delta_softplus=True),
                                             device, repeat=3)
                except RuntimeError as exc:
                    results[key] = {"skipped": str(exc)}
                    continue
                results[key] = {"rel_err_vs_cpu": rel_err(got, expected),
                                "reverse_rel_err_vs_cpu": rel_err(got_reverse, expected_reverse),
                                "cpu_backend": cpu_backend, "best_ms": 1e3 * min(times)}


def check_window(preset: str, device: torch.device, dtypes: list[str], results: dict, size: int | None) -> None:
    torch.manual_seed(0)
    net_cpu = models.build(preset).eval()
    net_gpu = copy.deepcopy(net_cpu)
    p = net_cpu.preset.protocol
    height, width = (size, size) if size else p.tile
    frames = torch.rand(p.frames, 3, height, width, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    expected = models.Derainer(net_cpu, mode="fast", device="cpu").run_window(frames)
    results[f"window/{preset}/cpu_seconds"] = time.perf_counter() - start
    for name in dtypes:
        if device.type != "cuda" and name != "float32":
            continue
        engine = models.Derainer(net_gpu, mode="fast", device=device, dtype=name)
        got = engine.run_window(frames)
        results[f"window/{preset}/{name}"] = {
            "rel_err_vs_cpu_float32": rel_err(got, expected), "psnr_db_vs_cpu_float32": psnr(got, expected),
            "window": f"{p.frames}x{height}x{width}",
        }


def measure_1080p(device: torch.device, n_frames: int, configs: list[tuple[str, int]], budget: Budget,
                  size: str, results: dict) -> None:
    torch.manual_seed(0)
    net = models.build("vrds").to(device).eval()
    height, width = bm.parse_size(size)
    for dtype, batch in configs:
        key = f"speed/vrds/{size}/{dtype}/batch{batch}"
        if budget.left() < 30:
            results[key] = {"skipped": "time budget spent"}
            continue
        try:
            engine = models.Derainer(net, mode="fast", device=device, dtype=dtype, batch_size=batch)
            for _ in engine.stream(bm.synthetic_frames(net.preset.protocol.frames, height, width)):   # warm-up
                pass
            with bm.PeakMemory(device) as memory:
                start = time.perf_counter()
                count = sum(1 for _ in engine.stream(bm.synthetic_frames(n_frames, height, width, seed=1)))
                bm._sync(device)
                seconds = time.perf_counter() - start
            results[key] = {"frames": count, "seconds": seconds, "frames_per_s": count / seconds,
                            "peak_mem_gb": memory.peak / 2**30, "scan": scan.choose_backend(
                                torch.zeros(1, 1, 1, device=device, dtype=DTYPES[dtype]))}
        except Exception as exc:  # one failing configuration must not hide the others
            results[key] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=3)}


def measure_compile(device: torch.device, dtype: str, batch: int, results: dict) -> None:
    """Does ``torch.compile`` help the network here? One vrds fast-mode batch of tiles, eager against
    compiled (the scan stays a kernel call between compiled graphs). It did not help on a CPU, so the
    engine does not use it; this tells a GPU session whether it should."""
    torch.manual_seed(0)
    net = models.build("vrds").to(device).eval()
    x = torch.rand(batch, net.preset.protocol.frames, 3, *net.preset.protocol.tile, device=device)
    precision = torch.autocast(device.type, dtype=DTYPES[dtype], enabled=dtype != "float32")
    key = f"compile/vrds/{dtype}/batch{batch}"
    with torch.inference_mode(), precision:
        eager_out = net(x)
        eager = bm.time_call(lambda: net(x), device, repeat=5)
        compiled = torch.compile(net)
        start = time.perf_counter()
        compiled_out = compiled(x)
        bm._sync(device)
        compile_s = time.perf_counter() - start
        fast = bm.time_call(lambda: compiled(x), device, repeat=5)
    results[key] = {"eager_ms": 1e3 * min(eager), "compiled_ms": 1e3 * min(fast),
                    "speedup": min(eager) / min(fast), "compile_s": compile_s,
                    "rel_err_vs_eager": rel_err(compiled_out, eager_out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    parser.add_argument("--frames", type=int, default=10, help="1080p clip length for the speed part")
    parser.add_argument("--size", default="1080p", help="clip size of the speed part (1080p, 720p, HxW)")
    parser.add_argument("--budget", type=float, default=270, help="seconds the whole script may take")
    parser.add_argument("--quick", action="store_true", help="small shapes: checks the script, not the GPU")
    parser.add_argument("--install", action="store_true", help="pip install mamba-ssm causal-conv1d first")
    parser.add_argument("--out", default=os.environ.get("OUT", ""), help="folder for gpu_check.json ($OUT)")
    args = parser.parse_args()
    budget = Budget(args.budget)
    if args.install:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "mamba-ssm",
                        "causal-conv1d"], timeout=max(10, budget.left() - 120), check=False)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("No CUDA device visible to torch: run with --device cpu for a dry run.", file=sys.stderr)
        return 2
    results: dict = {"machine": bm.machine_info(device), "args": vars(args),
                     "cuda_kernels": {"mamba_ssm": mamba_cuda.unavailable_reason(),
                                      "causal_conv1d": mamba_cuda.conv_unavailable_reason()}}
    steps = [
        ("scan", lambda: check_scan(device, 2048 if args.quick else 20480, results)),
        ("window tiny", lambda: check_window("tiny", device, list(DTYPES), results, 64 if args.quick else None)),
        ("window vrds", lambda: check_window("vrds", device, list(DTYPES), results, 64 if args.quick else None)),
        ("speed", lambda: measure_1080p(
            device, 5 if args.quick else args.frames,
            [("float32", 1)] if device.type != "cuda" else
            [("float16", 1), ("bfloat16", 1), ("float32", 1), ("float16", 8)],
            budget, "64x96" if args.quick else args.size, results)),
        ("torch.compile", lambda: measure_compile(device, "float32" if device.type != "cuda" else "float16",
                                                  1 if args.quick else 8, results)),
    ]
    for name, step in steps:
        if budget.left() < (90 if name == "torch.compile" else 20):  # compiling takes a minute or more
            results[f"{name}/skipped"] = "time budget spent"
            continue
        start = time.perf_counter()
        print(f"== {name} ...", flush=True)
        try:
            step()
        except Exception as exc:
            results[f"{name}/error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        results[f"{name}/seconds"] = time.perf_counter() - start
    print_summary(results)
    if args.out:
        path = Path(args.out) / "gpu_check.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {path}")
    return 0


def print_summary(results: dict) -> None:
    machine = results["machine"]
    print("\n=== gpu_check summary ===")
    print(f"machine: {machine.get('gpu', 'no GPU')} / {machine['cpu']} ({machine['cpu_cores']} cores), "
          f"torch {machine['torch']}")
    kernels = results["cuda_kernels"]
    print(f"mamba_ssm: {kernels['mamba_ssm']}; causal_conv1d: {kernels['causal_conv1d']}")
    for key, value in results.items():
        if key in ("machine", "args", "cuda_kernels"):
            continue
        if isinstance(value, dict):
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in value.items() if k != "trace")
            print(f"{key}: {shown}")
        else:
            print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
