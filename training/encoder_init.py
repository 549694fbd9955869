"""Start RainMamba's ConvNeXt encoder from an ImageNet ConvNeXt-T checkpoint, as the authors' training does.

Accepted namings, mapped onto our ``feat_extract.*`` (which are the official RainMamba names):

- mmcls / mmpretrain: ``backbone.downsample_layers.i.j``, ``backbone.stages.i.j.{depthwise_conv, norm,
  pointwise_conv1, pointwise_conv2, gamma}``, ``backbone.norm3`` -- the same names under a prefix;
- timm: ``stem.{0,1}``, ``stages.i.downsample.{0,1}``, ``stages.i.blocks.j.{conv_dw, norm, mlp.fc1,
  mlp.fc2, gamma}``;
- the ConvNeXt authors' release: ``downsample_layers.*``, ``stages.i.j.{dwconv, norm, pwconv1, pwconv2,
  gamma}``.

Classification heads and the post-pooling norms have no counterpart and are reported as unused; the
per-stage output norms the classifier never had (``norm0..2``) keep their fresh initialisation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

_PREFIX = "feat_extract."
_RULES: list[tuple[re.Pattern[str], str]] = [
    # timm
    (re.compile(r"^stem\.([01])\.(weight|bias)$"), r"downsample_layers.0.\1.\2"),
    (re.compile(r"^stages\.(\d+)\.downsample\.([01])\.(weight|bias)$"), r"downsample_layers.\1.\2.\3"),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.(weight|bias)$"), r"stages.\1.\2.depthwise_conv.\3"),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.norm\.(weight|bias)$"), r"stages.\1.\2.norm.\3"),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$"), r"stages.\1.\2.pointwise_conv1.\3"),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$"), r"stages.\1.\2.pointwise_conv2.\3"),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.(?:ls\.)?gamma$"), r"stages.\1.\2.gamma"),
    # ConvNeXt authors' release
    (re.compile(r"^stages\.(\d+)\.(\d+)\.dwconv\.(weight|bias)$"), r"stages.\1.\2.depthwise_conv.\3"),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.pwconv([12])\.(weight|bias)$"), r"stages.\1.\2.pointwise_conv\3.\4"),
    # mmcls / mmpretrain, and names shared with the authors' release
    (re.compile(r"^(downsample_layers\.\d+\.[01]\.(?:weight|bias))$"), r"\1"),
    (re.compile(r"^(stages\.\d+\.\d+\.(?:depthwise_conv|norm|pointwise_conv1|pointwise_conv2)\.(?:weight|bias))$"),
     r"\1"),
    (re.compile(r"^(stages\.\d+\.\d+\.gamma)$"), r"\1"),
    (re.compile(r"^(norm[0-3]\.(?:weight|bias))$"), r"\1"),
]
_STRIP = ("module.", "generator.", "backbone.", "encoder.", "model.", "feat_extract.")


@dataclass
class EncoderInitReport:
    """What an encoder initialisation did: our tensors it filled, left alone, and checkpoint tensors unused."""

    source: str
    mapped: list[str] = field(default_factory=list)
    not_initialised: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"encoder init from {self.source}: {len(self.mapped)} tensors loaded"]
        if self.not_initialised:
            parts.append(f"{len(self.not_initialised)} encoder tensors keep their fresh init "
                         f"({_short(self.not_initialised)})")
        if self.shape_mismatch:
            parts.append(f"{len(self.shape_mismatch)} skipped for shape ({_short(self.shape_mismatch)})")
        if self.unused:
            parts.append(f"{len(self.unused)} checkpoint tensors unused ({_short(self.unused)})")
        return "; ".join(parts) + "."


def _short(names: list[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _tensors(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"Cannot read the encoder checkpoint {path}: {type(exc).__name__}: {exc}") from None
    for key in ("state_dict", "model", "state_dict_ema", "model_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state_dict of a ConvNeXt.")
    return {k: v for k, v in obj.items() if isinstance(v, Tensor)}


def map_convnext_name(name: str) -> str | None:
    """Our ``feat_extract.*`` name for a checkpoint tensor name, or None when it has no counterpart."""
    changed = True
    while changed:
        changed = False
        for prefix in _STRIP:
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    for pattern, target in _RULES:
        if pattern.match(name):
            return _PREFIX + pattern.sub(target, name)
    return None


def init_encoder(net: nn.Module, path: str | Path) -> EncoderInitReport:
    """Copy the ConvNeXt tensors of ``path`` into ``net.feat_extract``; returns what mapped and what did not."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Encoder checkpoint {path} does not exist; give an ImageNet ConvNeXt-T .pth file.")
    ours = {k: v for k, v in net.state_dict().items() if k.startswith(_PREFIX)}
    report = EncoderInitReport(str(path))
    loaded: dict[str, Tensor] = {}
    for name, tensor in _tensors(path).items():
        target = map_convnext_name(name)
        if target is None or target not in ours:
            report.unused.append(name)
        elif ours[target].numel() != tensor.numel():
            report.shape_mismatch.append(f"{name} {tuple(tensor.shape)} -> {target} {tuple(ours[target].shape)}")
        else:
            loaded[target] = tensor.reshape(ours[target].shape).to(ours[target].dtype)
            report.mapped.append(target)
    if not loaded:
        raise ValueError(f"{path} has no ConvNeXt encoder tensors this network can use "
                         f"({len(report.shape_mismatch)} with other shapes: is it ConvNeXt-T and the preset an "
                         "official one?); expected mmcls, timm or ConvNeXt-release naming.")
    net.load_state_dict(loaded, strict=False)
    report.not_initialised = sorted(set(ours) - set(loaded))
    return report
