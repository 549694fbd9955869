"""Per-patch colour jitter and Gaussian blur for the DCLL negatives, batched and torchvision-free.

The authors perturb each negative patch with torchvision's ``ColorJitter(0.5, 0.5, 0.5, 0.25)`` and
``GaussianBlur(k in {1, 3, 5}, sigma in (0.1, 2))``, each with p = 0.5. These functions reproduce that
behaviour (same factor ranges, a random order of the four colour ops per patch, reflect-padded blur) for a
whole stack of patches at once, with every random draw taken from a caller-given generator.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _gray(x: Tensor) -> Tensor:
    r, g, b = x.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _rgb_to_hsv(x: Tensor) -> Tensor:
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, maxc), 1)


def _hsv_to_rgb(x: Tensor) -> Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = torch.stack([
        torch.stack((v, q, p, p, t, v), 1),
        torch.stack((t, v, v, q, p, p), 1),
        torch.stack((p, p, t, v, v, q), 1),
    ], 1)  # (N, 3 channels, 6 sectors, H, W)
    return table.gather(2, i[:, None, None].expand(-1, 3, 1, -1, -1)).squeeze(2)


def color_jitter(x: Tensor, generator: torch.Generator, brightness: float = 0.5, contrast: float = 0.5,
                 saturation: float = 0.5, hue: float = 0.25) -> Tensor:
    """torchvision ColorJitter on each (3, h, w) patch of ``x`` (N, 3, h, w) in [0, 1], own factors and order."""
    n = x.shape[0]
    factors = torch.stack([
        _uniform(n, 1 - brightness, 1 + brightness, generator),
        _uniform(n, 1 - contrast, 1 + contrast, generator),
        _uniform(n, 1 - saturation, 1 + saturation, generator),
        _uniform(n, -hue, hue, generator),
    ], 1).to(x.device, x.dtype)
    order = torch.argsort(torch.rand(n, 4, generator=generator), dim=1).to(x.device)
    for step in range(4):
        candidates = []
        for op in range(4):
            f = factors[:, op].view(n, 1, 1, 1)
            if op == 0:
                y = x * f
            elif op == 1:
                y = f * x + (1 - f) * _gray(x).mean(dim=(2, 3), keepdim=True)
            elif op == 2:
                y = f * x + (1 - f) * _gray(x)
            else:
                hsv = _rgb_to_hsv(x)
                hsv = torch.cat(((hsv[:, :1] + f) % 1.0, hsv[:, 1:]), 1)
                y = _hsv_to_rgb(hsv)
            candidates.append(y.clamp(0, 1))
        stacked = torch.stack(candidates, 1)  # (N, 4 ops, 3, h, w)
        x = stacked[torch.arange(n, device=x.device), order[:, step]]
    return x


def random_gaussian_blur(x: Tensor, generator: torch.Generator, max_kernel: float = 4.95,
                         sigma: tuple[float, float] = (0.1, 2.0)) -> Tensor:
    """Blur each patch of ``x`` (N, C, h, w) with its own odd kernel (1, 3 or 5) and sigma, reflect-padded.

    The kernel size is drawn as the authors do: k = int(U * 4.95), made odd by adding 1 to even values.
    """
    n, c, h, w = x.shape
    sizes = (torch.rand(n, generator=generator) * max_kernel).long()
    sizes = torch.where(sizes % 2 == 0, sizes + 1, sizes)
    sigmas = _uniform(n, sigma[0], sigma[1], generator)
    radius = int(sizes.max()) // 2
    if radius == 0 or min(h, w) <= radius:
        return x
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    taps = torch.exp(-0.5 * (offsets[None] / sigmas[:, None]) ** 2)
    taps = taps * (offsets[None].abs() <= (sizes[:, None] // 2))  # zero taps outside each patch's own kernel
    taps = (taps / taps.sum(1, keepdim=True)).to(x.device, x.dtype)
    k = 2 * radius + 1
    kernels = taps.repeat_interleave(c, 0)  # (N*C, k)
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernels.view(n * c, 1, k, 1), groups=n * c)
    y = F.conv2d(y, kernels.view(n * c, 1, 1, k), groups=n * c)
    return y.view(n, c, h, w)
