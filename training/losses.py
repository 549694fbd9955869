"""RainMamba's training loss: Charbonnier + 0.3 perceptual (VGG16) + 0.1 DCLL (docs/NETWORK.md, "Training loss").

DCLL, the difference-guided dynamic contrastive locality loss, pulls output patches where the rain was
(|gt - lq| above its mean) towards nearby clean patches and pushes them away from distant, perturbed rainy
patches; how near "nearby" and how far "distant" are follow a schedule over training progress. The index
sampling is split from the patch gathering so the schedule and its geometry can be tested on their own.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .jitter import color_jitter, random_gaussian_blur

PERCEPTUAL_TAPS = (3, 8, 15)  # relu1_2, relu2_2, relu3_3 in torchvision's vgg16().features
PERCEPTUAL_LAYERS = 16        # features[:16]
DCLL_LAYERS = 3               # vgg19().features[:3]: conv1_1, ReLU, conv1_2


def charbonnier_loss(pred: Tensor, target: Tensor, eps: float = 1e-12) -> Tensor:
    """mean(sqrt((pred - target)^2 + eps)), computed in float32 (eps underflows in half precision)."""
    diff = pred.float() - target.float()
    return torch.sqrt(diff * diff + eps).mean()


class PerceptualLoss(nn.Module):
    """Mean of the MSEs between VGG16 relu1_2, relu2_2 and relu3_3 features; inputs in [0, 1], not normalised."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features

    def _taps(self, x: Tensor) -> list[Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in PERCEPTUAL_TAPS:
                taps.append(x)
        return taps

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        pairs = zip(self._taps(pred), self._taps(target.detach()))
        losses = [F.mse_loss(p.float(), t.float()) for p, t in pairs]
        return sum(losses) / len(losses)


@dataclass(frozen=True)
class DCLLSchedule:
    """Where DCLL samples at one point of training: positives within +-positive_range, negatives beyond
    negative_distance (in pixels, on either axis)."""

    positive_range: int
    negative_distance: int


def dcll_schedule(progress: float, negative_distance: tuple[int, int], max_positive: int = 12) -> DCLLSchedule:
    """The schedule at ``progress`` = iteration / total_iterations in [0, 1].

    positive_range grows linearly from 0 to ``max_positive``; the negative distance halves from its initial
    value over the run, never below its floor.
    """
    p = min(max(float(progress), 0.0), 1.0)
    initial, floor = negative_distance
    return DCLLSchedule(positive_range=int(min(max_positive * p, max_positive)),
                        negative_distance=int(max(initial * 0.5 ** p, floor)))


@dataclass
class DCLLSamples:
    """Patch corners (top-left y, x) of N anchor/positive/negative triplets; all tensors (N,) long on CPU."""

    batch: Tensor
    frame: Tensor
    anchor_y: Tensor
    anchor_x: Tensor
    positive_frame: Tensor
    positive_y: Tensor
    positive_x: Tensor
    negative_frame: Tensor
    negative_y: Tensor
    negative_x: Tensor
    patch: int


def _randint(low: Tensor, high: Tensor, generator: torch.Generator) -> Tensor:
    """Uniform integers in [low, high] (inclusive), elementwise."""
    span = (high - low + 1).clamp(min=1)
    return low + (torch.rand(low.shape, generator=generator) * span).long().clamp(max=span - 1)


def sample_dcll(lq: Tensor, gt: Tensor, num_samples: int, schedule: DCLLSchedule, generator: torch.Generator,
                patch: int = 16) -> DCLLSamples:
    """Draw ``num_samples`` triplets per (sample, frame) of a (B, T, 3, H, W) batch.

    Anchor corners come uniformly from the pixels where D = mean_RGB |gt - lq| exceeds mean(D) (clamped so the
    patch fits; uniform over the frame when no pixel does). The positive comes from frame t-1, t or t+1
    (clamped) at an offset within +-positive_range; the negative from a random frame at an offset beyond
    negative_distance on at least one axis; where the frame is too small for that, from the farthest corners.
    """
    b, t, _, h, w = lq.shape
    patch = min(patch, h, w)
    hc, wc = h - patch + 1, w - patch + 1  # valid corner grid
    diff = (gt.detach().float() - lq.detach().float()).abs().mean(2).reshape(b * t, h * w)
    weights = (diff > diff.mean(1, keepdim=True)).float().cpu()
    empty = weights.sum(1) == 0
    if empty.any():
        corners = torch.zeros(h, w)
        corners[:hc, :wc] = 1
        weights[empty] = corners.flatten()
    flat = torch.multinomial(weights, num_samples, replacement=True, generator=generator).flatten()
    n = flat.numel()
    anchor_y = (flat // w).clamp(max=hc - 1)
    anchor_x = (flat % w).clamp(max=wc - 1)
    pair = torch.arange(b * t).repeat_interleave(num_samples)
    batch, frame = pair // t, pair % t

    step = torch.randint(-1, 2, (n,), generator=generator)  # uniform choice of t, t-1, t+1
    positive_frame = (frame + step).clamp(0, t - 1)
    r = schedule.positive_range
    positive_y = _randint((anchor_y - r).clamp(min=0), (anchor_y + r).clamp(max=hc - 1), generator)
    positive_x = _randint((anchor_x - r).clamp(min=0), (anchor_x + r).clamp(max=wc - 1), generator)

    negative_frame = torch.randint(0, t, (n,), generator=generator)
    grid_y = torch.arange(hc).view(1, hc, 1)
    grid_x = torch.arange(wc).view(1, 1, wc)
    dy = (grid_y - anchor_y.view(n, 1, 1)).abs()
    dx = (grid_x - anchor_x.view(n, 1, 1)).abs()
    far = ((dy > schedule.negative_distance) | (dx > schedule.negative_distance)).reshape(n, -1).float()
    none_far = far.sum(1) == 0
    if none_far.any():
        cheb = torch.maximum(dy, dx).reshape(n, -1)[none_far]
        far[none_far] = (cheb == cheb.max(1, keepdim=True).values).float()
    corner = torch.multinomial(far, 1, generator=generator).squeeze(1)
    return DCLLSamples(batch, frame, anchor_y, anchor_x, positive_frame, positive_y, positive_x,
                       negative_frame, corner // wc, corner % wc, patch)


def gather_patches(video: Tensor, batch: Tensor, frame: Tensor, y: Tensor, x: Tensor, patch: int) -> Tensor:
    """Patches (N, C, patch, patch) of ``video`` (B, T, C, H, W) at the given corners; differentiable."""
    offsets = torch.arange(patch, device=video.device)
    rows = (y.to(video.device)[:, None] + offsets)[:, :, None]
    cols = (x.to(video.device)[:, None] + offsets)[:, None, :]
    b = batch.to(video.device)[:, None, None]
    f = frame.to(video.device)[:, None, None]
    return video.permute(0, 1, 3, 4, 2)[b, f, rows, cols].permute(0, 3, 1, 2)


class ContrastiveDistance(nn.Module):
    """d(a, x) = 0.5 L1(phi1(a), phi1(x)) + 0.5 L1(phi3(a), phi3(x)), phi = VGG19 conv1_1 / up to conv1_2."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features

    def forward(self, a: Tensor, x: Tensor) -> Tensor:
        a1, x1 = self.features[0](a), self.features[0](x)
        a3, x3 = self.features[2](self.features[1](a1)), self.features[2](self.features[1](x1))
        return 0.5 * F.l1_loss(a1.float(), x1.float()) + 0.5 * F.l1_loss(a3.float(), x3.float())


class DCLLoss(nn.Module):
    """d(anchor, positive) / (d(anchor, negative) + 1e-7) over all sampled patches of a batch."""

    def __init__(self, features: nn.Sequential, num_samples: int, negative_distance: tuple[int, int],
                 patch: int = 16, max_positive: int = 12, jitter_p: float = 0.5, blur_p: float = 0.5) -> None:
        super().__init__()
        self.distance = ContrastiveDistance(features)
        self.num_samples = num_samples
        self.negative_distance = tuple(negative_distance)
        self.patch = patch
        self.max_positive = max_positive
        self.jitter_p = jitter_p
        self.blur_p = blur_p

    def perturb(self, negatives: Tensor, generator: torch.Generator) -> Tensor:
        """Colour jitter then blur, each applied to a patch with its own probability."""
        n = negatives.shape[0]
        jitter = (torch.rand(n, generator=generator) < self.jitter_p).to(negatives.device).view(n, 1, 1, 1)
        negatives = torch.where(jitter, color_jitter(negatives, generator), negatives)
        blur = (torch.rand(n, generator=generator) < self.blur_p).to(negatives.device).view(n, 1, 1, 1)
        return torch.where(blur, random_gaussian_blur(negatives, generator), negatives)

    def forward(self, out: Tensor, gt: Tensor, lq: Tensor, progress: float, generator: torch.Generator) -> Tensor:
        schedule = dcll_schedule(progress, self.negative_distance, self.max_positive)
        s = sample_dcll(lq, gt, self.num_samples, schedule, generator, self.patch)
        anchors = gather_patches(out, s.batch, s.frame, s.anchor_y, s.anchor_x, s.patch)
        with torch.no_grad():
            positives = gather_patches(gt, s.batch, s.positive_frame, s.positive_y, s.positive_x, s.patch)
            negatives = gather_patches(lq, s.batch, s.negative_frame, s.negative_y, s.negative_x, s.patch)
            negatives = self.perturb(negatives.float(), generator).to(lq.dtype)
        return self.distance(anchors, positives) / (self.distance(anchors, negatives) + 1e-7)


class RainMambaLoss(nn.Module):
    """Charbonnier + w_p * perceptual + w_c * DCLL; a term whose VGG weights are missing is left out.

    ``forward`` returns the total and a dict of the weighted terms (detached) for logging.
    """

    def __init__(self, perceptual: PerceptualLoss | None, dcll: DCLLoss | None, charbonnier_weight: float = 1.0,
                 perceptual_weight: float = 0.3, dcll_weight: float = 0.1, eps: float = 1e-12) -> None:
        super().__init__()
        self.perceptual = perceptual if perceptual_weight else None
        self.dcll = dcll if dcll_weight else None
        self.weights = {"charbonnier": charbonnier_weight, "perceptual": perceptual_weight, "dcll": dcll_weight}
        self.eps = eps

    def forward(self, out: Tensor, gt: Tensor, lq: Tensor, progress: float,
                generator: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
        b, t, c, h, w = out.shape
        terms = {"charbonnier": self.weights["charbonnier"] * charbonnier_loss(out, gt, self.eps)}
        if self.perceptual is not None:
            terms["perceptual"] = self.weights["perceptual"] * self.perceptual(
                out.reshape(b * t, c, h, w), gt.reshape(b * t, c, h, w))
        if self.dcll is not None:
            terms["dcll"] = self.weights["dcll"] * self.dcll(out, gt, lq, progress, generator)
        total = sum(terms.values())
        return total, {name: value.detach() for name, value in terms.items()}
