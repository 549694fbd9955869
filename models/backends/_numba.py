"""numba, set up to run beside PyTorch: imported by the compiled CPU kernels instead of numba itself.

numba's default threading layer here is OpenMP, which PyTorch uses too: its first parallel call resets
the OpenMP thread count that ``torch.set_num_threads`` chose, so torch silently changes its own
parallelism (and the last bits of its reductions) mid-run. numba's own "workqueue" pool shares nothing.

LLVM tunes Intel's AVX-512 CPUs to prefer 256-bit vectors (its ``prefer-256-bit`` tuning), which halves
the width of the scan kernels' channel loops; they are arithmetic-bound (an exp per state element), and
with 512-bit vectors the inference kernel runs about 1.5x faster with bit-identical results. Where the
CPU has AVX-512 and the user has not set ``NUMBA_CPU_FEATURES``, the host's features are used with that
tuning turned off. It takes effect if numba has compiled nothing in this process before.
"""
import os

import llvmlite.binding as _llvm

if "NUMBA_CPU_FEATURES" not in os.environ:
    _features = _llvm.get_host_cpu_features()
    if _features.get("avx512f"):
        os.environ["NUMBA_CPU_FEATURES"] = _features.flatten() + ",-prefer-256-bit"

import numba  # noqa: E402  (after the environment it reads)

numba.config.THREADING_LAYER = "workqueue"
if numba.config.CPU_FEATURES is None and "NUMBA_CPU_FEATURES" in os.environ:   # numba was imported earlier
    numba.config.CPU_FEATURES = os.environ["NUMBA_CPU_FEATURES"]
