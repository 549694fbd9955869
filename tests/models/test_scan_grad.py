"""The numba forward+backward scan used for CPU training, against the per-step float64 reference."""
from __future__ import annotations

import pytest
import torch

from models import scan
from models.scan import selective_scan, selective_scan_ref

pytest.importorskip("numba", reason="numba is not installed: the compiled CPU training scan is unavailable")


def _inputs(batch=2, dim=6, length=29, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return dict(u=r(batch, dim, length), delta=r(batch, dim, length) * 0.5, A=-torch.rand(dim, n, generator=g,
                dtype=torch.float64) * 3, B=r(batch, n, length), C=r(batch, n, length), D=r(dim),
                z=r(batch, dim, length), delta_bias=r(dim) * 0.3)


@pytest.mark.parametrize("with_z,with_d,softplus", [(True, True, True), (False, False, True), (True, False, False)])
def test_numba_training_scan_matches_reference_forward_and_backward(with_z, with_d, softplus):
    ref_in = {k: v.requires_grad_() for k, v in _inputs().items()}
    if not with_z:
        ref_in.pop("z")
    if not with_d:
        ref_in.pop("D")
    ours_in = {k: v.detach().float().requires_grad_() for k, v in ref_in.items()}
    grad_out = torch.randn(2, 6, 29, dtype=torch.float64)

    ref = selective_scan_ref(**ref_in, delta_softplus=softplus)
    with scan.use_scan_backend("numba"):
        ours = selective_scan(**ours_in, delta_softplus=softplus)
    assert (ours.double() - ref).abs().max() <= 2e-5 * ref.abs().max()  # float32 against float64

    ref_grads = torch.autograd.grad(ref, list(ref_in.values()), grad_out)
    our_grads = torch.autograd.grad(ours, list(ours_in.values()), grad_out.float())
    for name, ours_g, ref_g in zip(ref_in, our_grads, ref_grads):
        scale = ref_g.abs().max()
        assert (ours_g.double() - ref_g).abs().max() <= 1e-4 * scale, name


def test_training_on_cpu_picks_the_numba_pair():
    x = _inputs()
    u = x["u"].float().requires_grad_()
    assert scan.choose_backend(u, needs_grad=True) == "numba"
