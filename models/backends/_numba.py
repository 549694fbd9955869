"""numba, set up to run beside PyTorch: imported by the compiled CPU kernels instead of numba itself.

numba's default threading layer here is OpenMP, which PyTorch uses too: its first parallel call resets
the OpenMP thread count that ``torch.set_num_threads`` chose, so torch silently changes its own
parallelism (and the last bits of its reductions) mid-run. numba's own "workqueue" pool shares nothing.
"""
import numba

numba.config.THREADING_LAYER = "workqueue"
