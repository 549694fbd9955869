"""The Triton scan: its kernel against the per-step reference (in Triton's CPU interpreter), and its dispatch.

No GPU here, so the kernel runs in Triton's interpreter (TRITON_INTERPRET=1, which must be set before
triton is imported): every case runs in one subprocess, started by a module fixture, so this process's
triton stays the compiled one. The interpreter is slow (it runs the scan's combine once per element in
Python), hence the small shapes; ``block_l`` is made small too, so that short sequences span several
chunks. Speed on a GPU is measured by benchmarks/gpu_check.py.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from models import scan
from models.backends import mamba_cuda, triton_gpu, triton_kernel
from models.scan import available_backends, choose_backend, selective_scan, selective_scan_ref, use_scan_backend

from test_scan import _flipped_reference, make_inputs  # tests/models is on sys.path, under pytest and as a script

ROOT = Path(__file__).resolve().parents[2]
HALF = {"float16": torch.float16, "bfloat16": torch.bfloat16}

# name: make_inputs' shape arguments, the call's options (softplus, reverse, block_l) and changes to the
# inputs (bare: no z/D/delta_bias; dtype of the sequences; layout; delta and A scaled). Defaults: batch 2,
# dim 3, d_state 4, float32, z/D/delta_bias given, softplus on, forward, contiguous inputs.
CASES: dict[str, dict] = {
    "float32": dict(length=300, block_l=64),                       # 5 chunks, the last one partial
    "float32_reverse": dict(length=300, block_l=64, reverse=True),
    "default_block_l": dict(length=300),                           # 256 for d_state 4: 2 chunks
    "no_z_D_bias_no_softplus": dict(length=100, n_state=8, bare=True, softplus=False, block_l=32),
    "no_z_D_bias_reverse": dict(length=100, n_state=8, bare=True, softplus=False, reverse=True, block_l=32),
    "length_1": dict(dim=4, length=1),
    "length_1_reverse": dict(dim=4, length=1, reverse=True),
    "d_state_16_five_channels": dict(batch=1, dim=5, length=70, n_state=16, block_l=32),
    "d_state_6_padded_to_8": dict(length=40, n_state=6, block_l=16, reverse=True),
    "network_layout_views": dict(length=90, layout="network", reverse=True, block_l=32),
    "l_strided_views": dict(length=90, layout="l_strided", block_l=32),
    "bfloat16": dict(length=200, dtype="bfloat16", block_l=64),
    "float16_reverse": dict(length=200, dtype="float16", reverse=True, block_l=64),
    "huge_decay": dict(batch=1, dim=2, length=64, delta_scale=60.0, delta_shift=20.0, a_scale=10.0, block_l=16),
    "tiny_softplus_delta": dict(batch=1, dim=2, length=64, delta_scale=0.3, delta_shift=-12.0, bare=True,
                                block_l=32),
}


def _case_inputs(spec: dict) -> dict[str, torch.Tensor]:
    """The scan inputs of one case: A, D, delta_bias float32, the sequences in the case's dtype and layout."""
    shape = {k: spec[k] for k in ("batch", "dim", "length", "n_state") if k in spec}
    inputs = make_inputs(**shape, dtype=torch.float32, positive_delta=not spec.get("softplus", True))
    inputs["delta"] = inputs["delta"] * spec.get("delta_scale", 1.0) + spec.get("delta_shift", 0.0)
    inputs["A"] = inputs["A"] * spec.get("a_scale", 1.0)
    if spec.get("bare"):
        for name in ("D", "z", "delta_bias"):
            inputs.pop(name)
    sequences = [k for k in ("u", "delta", "B", "C", "z") if k in inputs]
    dtype = HALF.get(spec.get("dtype", "float32"), torch.float32)
    inputs.update({k: inputs[k].to(dtype) for k in sequences})
    layout = spec.get("layout")
    if layout == "network":  # (B, D, L) views of (D, B, L) storage, strides (L, B*L, 1), as bimamba passes
        xz = torch.cat([inputs["u"], inputs["z"]], 1).transpose(0, 1).contiguous().transpose(0, 1)
        batch, dim, length = inputs["u"].shape
        inputs.update(u=xz[:, :dim], z=xz[:, dim:],
                      delta=inputs["delta"].transpose(0, 1).contiguous().transpose(0, 1))
        assert inputs["u"].stride() == inputs["delta"].stride() == (length, batch * length, 1)
    elif layout == "l_strided":  # L stride != 1 everywhere: u/delta/z read in place, B/C copied
        inputs.update({k: inputs[k].transpose(1, 2).contiguous().transpose(1, 2) for k in sequences})
        assert all(inputs[k].stride(-1) != 1 for k in sequences)
    return inputs


def _error_vs_reference(y: torch.Tensor, inputs: dict[str, torch.Tensor], spec: dict) -> float:
    """Max |y - reference| / max |reference|, the reference being the float64 per-step loop on the same inputs."""
    wide = {k: v.detach().double().cpu() for k, v in inputs.items()}
    softplus = spec.get("softplus", True)
    expected = (_flipped_reference(wide, softplus) if spec.get("reverse")
                else selective_scan_ref(**wide, delta_softplus=softplus))
    return float((y.double().cpu() - expected).abs().max() / expected.abs().max().clamp_min(1e-30))


def _tolerance(spec: dict) -> float:
    return 1e-2 if spec.get("dtype") in HALF else 1e-5   # half inputs: y is rounded to 8 or 11 bits


def _run_case(spec: dict) -> dict:
    """Run one case through the Triton kernel (CPU tensors: the interpreter); its error and checks."""
    inputs = _case_inputs(spec)
    with torch.no_grad():
        y = triton_kernel.selective_scan_triton(**inputs, delta_softplus=spec.get("softplus", True),
                                              reverse=spec.get("reverse", False), block_l=spec.get("block_l"))
    return {"err": _error_vs_reference(y, inputs, spec), "tol": _tolerance(spec),
            "dtype_ok": y.dtype == inputs["u"].dtype, "shape_ok": y.shape == inputs["u"].shape,
            "finite": bool(torch.isfinite(y).all())}


def _error_messages() -> dict[str, str]:
    """What the public function says to calls it cannot run (checked before any launch)."""
    inputs = make_inputs(dim=2, length=8, dtype=torch.float32)
    calls = {
        "block_l": lambda: triton_kernel.selective_scan_triton(**inputs, block_l=48),
        "float64": lambda: triton_kernel.selective_scan_triton(**{k: v.double() for k, v in inputs.items()}),
        "grad": lambda: triton_kernel.selective_scan_triton(**dict(inputs, u=inputs["u"].clone().requires_grad_())),
    }
    messages = {}
    for name, call in calls.items():
        try:
            call()
            messages[name] = "no error"
        except (RuntimeError, ValueError) as exc:
            messages[name] = f"{type(exc).__name__}: {exc}"
    return messages


def _interpreter_main() -> None:
    """Subprocess entry point: run every case in the interpreter, print one JSON line of results."""
    assert triton_kernel.interpreting(), "TRITON_INTERPRET=1 must be set before triton is imported"
    results = {name: _run_case(spec) for name, spec in CASES.items()}
    results["errors"] = _error_messages()
    print(json.dumps(results))


# -- the kernel: run in Triton's interpreter, compiled for a GPU ----------------------------------------

needs_triton = pytest.mark.skipif(triton_kernel.triton is None, reason=triton_kernel.unavailable_reason())


@pytest.fixture(scope="module")
def interpreter_results() -> dict:
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, f"interpreter run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_triton
@pytest.mark.parametrize("case", list(CASES))
def test_triton_kernel_matches_reference_in_the_interpreter(case, interpreter_results):
    result = interpreter_results[case]
    assert result["dtype_ok"] and result["shape_ok"] and result["finite"], result
    assert result["err"] <= result["tol"], f"{case}: relative error {result['err']:.3g} > {result['tol']:g}"


@needs_triton
def test_triton_function_refuses_what_it_cannot_run(interpreter_results):
    messages = interpreter_results["errors"]
    assert messages["block_l"].startswith("ValueError: block_l must be a power of two")
    assert messages["float64"].startswith("ValueError: The Triton scan takes float32, float16 or bfloat16")
    assert messages["grad"].startswith("RuntimeError: The Triton scan has no backward")


@needs_triton
@pytest.mark.skipif(triton_kernel.interpreting(), reason="TRITON_INTERPRET=1 is set for this process")
@pytest.mark.parametrize("dtype,optional_inputs,reverse", [("fp32", True, False), ("bf16", False, True)])
def test_triton_kernel_compiles_for_a_hopper_gpu(dtype, optional_inputs, reverse, tmp_path, monkeypatch):
    """Compiled ahead of time for sm_90 (H100/H200), no GPU needed: Triton's compiling front end, which
    the interpreter does not run, and ptxas accept the kernel as launched at the network's shapes."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))   # really compile, and leave no cache behind
    kernel = triton_kernel._selective_scan_fwd_kernel
    flags = dict(HAS_D=optional_inputs, HAS_Z=optional_inputs, HAS_BIAS=optional_inputs, SOFTPLUS=True,
                 REVERSE=reverse, BLOCK_N=16, BLOCK_L=triton_kernel.default_block_l(16, 20480))

    def param_type(name: str) -> str:
        if name in flags:
            return "constexpr"
        if name.endswith("_ptr"):
            return "*fp32" if name in ("A_ptr", "D_ptr", "bias_ptr") else f"*{dtype}"
        return "i32"

    signature = {name: param_type(name) for name in kernel.arg_names}
    unit_strides = {name: 1 for name in kernel.arg_names if name.endswith("_stride_l")}  # as triton specialises
    compiled = triton_kernel.triton.compile(ASTSource(kernel, signature, {**flags, **unit_strides}),
                                          target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
    assert compiled.asm["cubin"] and ".entry _selective_scan_fwd_kernel" in compiled.asm["ptx"]


@pytest.mark.skipif(not triton_kernel.available(),
                    reason=f"Triton scan unusable here ({triton_kernel.unavailable_reason()}); the interpreter "
                           "cases above run its code, benchmarks/gpu_check.py times it on a GPU")
@pytest.mark.parametrize("case", ["float32", "float32_reverse", "network_layout_views", "bfloat16", "length_1"])
def test_triton_kernel_matches_reference_on_the_gpu(case):
    """Through the dispatcher, with the default chunk length, as the network runs it."""
    spec = CASES[case]
    inputs = {k: v.cuda() for k, v in _case_inputs(spec).items()}   # .cuda() keeps the views' strides
    with torch.no_grad(), use_scan_backend("triton"):
        y = selective_scan(**inputs, delta_softplus=spec.get("softplus", True), reverse=spec.get("reverse", False))
    assert y.dtype == inputs["u"].dtype and y.is_cuda
    assert _error_vs_reference(y, inputs, spec) <= _tolerance(spec)


# -- choosing the backend -------------------------------------------------------------------------

def _cuda_like(dtype: torch.dtype = torch.float32) -> SimpleNamespace:
    """What choose_backend looks at of an input on a GPU (there is none here)."""
    return SimpleNamespace(device=torch.device("cuda", 0), dtype=dtype)


@pytest.fixture
def gpu_without_mamba_ssm(monkeypatch):
    """Automatic choice, mamba_ssm unusable; the test sets whether triton is usable."""
    monkeypatch.delenv(scan.ENV_VAR, raising=False)
    monkeypatch.setattr(mamba_cuda, "available", lambda: False)
    return lambda usable: monkeypatch.setattr(triton_gpu, "available", lambda: usable)


def test_automatic_choice_takes_triton_for_inference_on_a_gpu_when_usable(gpu_without_mamba_ssm):
    gpu_without_mamba_ssm(True)
    for dtype in triton_kernel.DTYPES:
        assert choose_backend(_cuda_like(dtype), needs_grad=False) == "triton"
    assert choose_backend(_cuda_like(), needs_grad=True) == "torch"          # no backward
    assert choose_backend(_cuda_like(torch.float64)) == "torch"              # no float64 kernel
    gpu_without_mamba_ssm(False)
    assert choose_backend(_cuda_like(), needs_grad=False) == "torch"


def test_mamba_ssm_comes_before_triton(gpu_without_mamba_ssm, monkeypatch):
    gpu_without_mamba_ssm(True)
    monkeypatch.setattr(mamba_cuda, "available", lambda: True)
    assert choose_backend(_cuda_like(), needs_grad=False) == "cuda"
    assert choose_backend(_cuda_like(), needs_grad=True) == "cuda"


def test_selective_scan_tells_the_choice_whether_a_gradient_is_needed(monkeypatch):
    """What keeps training off triton: inputs needing grad under grad mode say so, the same in no_grad do not."""
    asked = []
    monkeypatch.setattr(scan, "choose_backend", lambda u, needs_grad=False: asked.append(needs_grad) or "ref")
    inputs = make_inputs(dtype=torch.float32, length=5)
    leaves = dict(inputs, delta=inputs["delta"].requires_grad_())
    selective_scan(**leaves)
    with torch.no_grad():
        selective_scan(**leaves)
    assert asked == [True, False]


def test_forcing_triton_where_it_cannot_run_is_a_clear_error(monkeypatch):
    inputs = make_inputs(dtype=torch.float32, length=6)
    monkeypatch.setenv(scan.ENV_VAR, "triton")
    with pytest.raises(RuntimeError, match="'triton' was forced but cannot run this call: it runs on CUDA tensors"):
        selective_scan(**inputs)
    monkeypatch.delenv(scan.ENV_VAR)
    with use_scan_backend("triton"), pytest.raises(RuntimeError, match="CUDA tensors only, these are on cpu"):
        selective_scan(**inputs)
    monkeypatch.setattr(triton_gpu, "available", lambda: True)
    with use_scan_backend("triton"), pytest.raises(RuntimeError, match="it has no backward; training uses"):
        choose_backend(_cuda_like(), needs_grad=True)


def test_backend_report_lists_triton():
    report = scan.backend_report()
    assert list(report) == list(scan.BACKENDS)
    assert ("triton" in available_backends()) == triton_kernel.available()
    if not triton_kernel.available():
        assert report["triton"] == triton_kernel.unavailable_reason() != ""


def test_scan_triton_imports_without_triton(monkeypatch):
    """Without triton the module still imports (a fresh copy here), and says why it cannot run."""
    monkeypatch.setitem(sys.modules, "triton", None)
    spec = importlib.util.spec_from_file_location("scan_triton_without_triton", ROOT / "models" / "backends" / "triton_kernel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not module.available() and not module.interpreting()
    assert module.unavailable_reason().startswith("triton does not import (ModuleNotFoundError")
    with pytest.raises(RuntimeError, match="The Triton scan cannot run: triton does not import"):
        module.selective_scan_triton(**make_inputs(dtype=torch.float32, length=4))


if __name__ == "__main__":
    _interpreter_main()
