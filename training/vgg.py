"""Frozen VGG16/VGG19 feature extractors for the training losses, without torchvision.

The perceptual loss needs VGG16 up to relu3_3 and the DCLL distance needs VGG19 up to conv1_2, both with
ImageNet weights. torchvision does not install cleanly everywhere, so the layers are built here with
torchvision's module indices (``features.N``) and the weights come from a local file: a torchvision
state_dict, or an official RainMamba ``.pth`` (which carries the same tensors as ``PerceptualLoss.vgg_layers.N``
and ``ContrastLoss.l1.loss_net{1,3}.N``), or, failing both, torchvision's download cache. Without weights
the caller decides whether to stop or to train without those losses.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor, nn

# Output channels per conv; "M" is a 2x2 max-pool. Index i of the built Sequential == torchvision features.i.
_CONFIGS: dict[int, list[int | str]] = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# torchvision's cached ImageNet files (torch.hub's checkpoints folder).
TORCHVISION_FILES = {16: "vgg16-397923af.pth", 19: "vgg19-dcbf9d21.pth"}

# Feature indices of the official RainMamba checkpoint's frozen loss networks.
_OFFICIAL_PATTERNS = {
    16: [re.compile(r"(?:^|\.)PerceptualLoss\.vgg_layers\.(\d+)\.(weight|bias)$")],
    19: [re.compile(r"(?:^|\.)ContrastLoss\.l1\.loss_net[13]\.(\d+)\.(weight|bias)$")],
}
_TORCHVISION_PATTERN = re.compile(r"(?:^|\.)features\.(\d+)\.(weight|bias)$")


class VGGWeightsError(RuntimeError):
    """The VGG weights cannot be had (missing file, or a file without the needed tensors)."""


def build_vgg_features(depth: int, num_layers: int) -> nn.Sequential:
    """The first ``num_layers`` modules of torchvision's ``vgg{depth}().features``, randomly initialised."""
    if depth not in _CONFIGS:
        raise ValueError(f"VGG depth must be 16 or 19, got {depth}.")
    layers: list[nn.Module] = []
    channels = 3
    for item in _CONFIGS[depth]:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
        if len(layers) >= num_layers:
            break
    return nn.Sequential(*layers[:num_layers])


def default_weights_path(depth: int) -> Path:
    """Where torchvision would have cached the ImageNet weights of VGG``depth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[depth]


def _flat_state_dict(obj: object, path: Path) -> dict[str, Tensor]:
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise VGGWeightsError(f"{path} does not hold a state_dict; give a torchvision VGG .pth or an official "
                              "RainMamba checkpoint.")
    return {k: v for k, v in obj.items() if isinstance(v, Tensor)}


def extract_vgg_tensors(state: dict[str, Tensor], depth: int) -> dict[str, Tensor]:
    """Tensors of ``state`` renamed to ``"<index>.weight|bias"`` of VGG``depth``'s features.

    Reads torchvision naming (``features.N.*``, with any prefix) and, for the layers it holds, the official
    RainMamba checkpoint naming of the frozen loss networks.
    """
    found: dict[str, Tensor] = {}
    for pattern in [_TORCHVISION_PATTERN, *_OFFICIAL_PATTERNS[depth]]:
        for key, value in state.items():
            match = pattern.search(key)
            if match:
                found.setdefault(f"{match.group(1)}.{match.group(2)}", value)
        if found:
            return found
    return found


def load_vgg_features(depth: int, num_layers: int, path: str | Path | None = None) -> nn.Sequential:
    """Frozen, eval-mode VGG``depth`` features[:num_layers] with ImageNet weights from ``path`` or the cache.

    Raises VGGWeightsError naming what was looked for when the weights cannot be had.
    """
    candidates = [Path(path).expanduser()] if path else [default_weights_path(depth)]
    source = candidates[0]
    if not source.is_file():
        raise VGGWeightsError(
            f"VGG{depth} ImageNet weights not found at {source}"
            + ("" if path else f"; put torchvision's {TORCHVISION_FILES[depth]} there or pass "
                               f"--vgg{depth}-weights PATH (a torchvision file or an official RainMamba .pth)"))
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line explanation
        raise VGGWeightsError(f"cannot read VGG{depth} weights from {source}: {exc}") from None
    tensors = extract_vgg_tensors(_flat_state_dict(obj, source), depth)
    features = build_vgg_features(depth, num_layers)
    wanted = features.state_dict()
    missing = [k for k in wanted if k not in tensors]
    if missing:
        raise VGGWeightsError(f"{source} lacks VGG{depth} tensors features.{', features.'.join(missing)}; "
                              f"give torchvision's {TORCHVISION_FILES[depth]} or an official RainMamba .pth.")
    bad = [k for k in wanted if tuple(tensors[k].shape) != tuple(wanted[k].shape)]
    if bad:
        raise VGGWeightsError(f"{source}: VGG{depth} tensor features.{bad[0]} has shape "
                              f"{tuple(tensors[bad[0]].shape)}, expected {tuple(wanted[bad[0]].shape)}.")
    features.load_state_dict({k: tensors[k].float() for k in wanted})
    features.requires_grad_(False)
    return features.eval()
