"""Frame backbones shared by the few-shot models (TRX, STRM, SKPS-Net): torchvision ResNets without their
classifier (`build_resnet`; `ResNetFeatureMap` keeps the last spatial feature map, STRM's patches;
`ResNetStages` the four stage maps, SloshNet's multi-level features),
weights from a local file (`components.weights.load_weights`) or `imagenet` (torchvision's published
ImageNet weights, in the torch cache, fetched there on first use), and `resnet_tiny` for CPU runs on
the synthetic videos."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from vadbench.data.episodic.dataset import IMAGENET_MEAN, IMAGENET_STD   # how the loader normalises frames
from vadbench.models.components.weights import WeightsError, load_weights

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet_tiny")
IMAGENET = "imagenet"   # `backbone_weights: imagenet` = torchvision's IMAGENET1K_V1 weights (the papers' ResNets)


def imagenet_weights_file(name: str) -> Path:
    """The local file of torchvision's ImageNet weights for `name` (`IMAGENET1K_V1`, the original
    torchvision ResNet weights the TRX / SKPS-Net papers used: resnet50-0676ba61.pth), in the torch
    cache (`torch.hub.get_dir()/checkpoints`, where torchvision's weights API keeps them); downloaded
    there on first use. Offline without the file: a `WeightsError` saying how to pass a local one."""
    if name == "resnet_tiny":
        raise WeightsError("backbone_weights: imagenet: there are no ImageNet weights for resnet_tiny "
                           "(a CPU test trunk); use null (random init) or a local file")
    url = torchvision.models.get_model_weights(name).IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=True)
    except Exception as err:  # noqa: BLE001 - offline: URLError, socket errors, permission errors
        raise WeightsError(
            f"backbone_weights: imagenet: torchvision's ImageNet {name} weights are not in the torch cache "
            f"({path}) and could not be downloaded from {url} ({type(err).__name__}: {err}). Offline, pass the "
            f"local file: --model.init_args.net.init_args.backbone_weights=/path/to/{path.name} (SKPS-Net's "
            f"key-patch trunk: --model.init_args.net.init_args.local_backbone_weights), or copy it to {path}"
        ) from err
    return path


class TinyResNet(torchvision.models.ResNet):
    """`resnet_tiny`: one BasicBlock per stage, widths 16-32-64-128 (0.3M parameters, about 1/20 of
    ResNet-18's multiply-adds). Not a paper backbone: it lets the synthetic configs learn on a CPU.
    Same attribute names as torchvision's ResNets (conv1 ... layer4, avgpool, fc)."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 128)):
        super().__init__(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
        block = torchvision.models.resnet.BasicBlock
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._make_layer(block, widths[0], 1)
        self.layer2 = self._make_layer(block, widths[1], 1, stride=2)
        self.layer3 = self._make_layer(block, widths[2], 1, stride=2)
        self.layer4 = self._make_layer(block, widths[3], 1, stride=2)
        self.fc = nn.Linear(widths[3], 1000)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def build_resnet(name: str = "resnet50", weights: str | None = None) -> tuple[nn.Module, int, bool]:
    """A torchvision ResNet without its classifier: `(B, 3, H, W) -> (B, D)`.

    `weights`: None = random init; `imagenet` = torchvision's ImageNet weights (`imagenet_weights_file`:
    the torch cache, downloaded there on first use); else a local file (a torchvision state dict,
    optionally under "state_dict", optionally with a `module.` prefix; `fc.*` entries are ignored).
    Returns (network, feature dim D, whether weights were loaded).
    """
    if name not in RESNETS:
        raise ValueError(f"unknown backbone {name!r}; expected one of {RESNETS}")
    net = TinyResNet() if name == "resnet_tiny" else getattr(torchvision.models, name)(weights=None)
    dim = net.fc.in_features
    loaded = False
    if weights == IMAGENET:
        weights = str(imagenet_weights_file(name))
    if weights is not None:
        load_weights(net, weights, drop=("fc.",), allow_unexpected=False, name=f"torchvision {name}")
        loaded = True
    net.fc = nn.Identity()
    return net, dim, loaded


class FrameBackboneCore(nn.Module):
    """Base of the few-shot cores that embed every frame with a ResNet (TRX, OTAM, HyRSM, STRM): builds
    `backbone` and gives `backbones`, `embed`, `embed_episode` and `backbone_metadata`; the subclass adds its
    head (STRM overrides `build_backbone` and `embed` for the spatial feature map).

    Args:
        backbone: torchvision ResNet name (resnet50 in the papers; resnet18 / resnet_tiny for CPU runs).
        backbone_weights: `imagenet` = torchvision's ImageNet weights (torch cache, fetched on first use),
            or a local weight file; None = random init, recorded as `backbone: random_init` in the result
            file (`build_resnet`).
        backbone_passes: "joint" = support and queries through the backbone in one batch; "separate" =
            two passes, as the official TRX code and the OTAM reference (BatchNorm statistics differ in training).
        backbone_input: "imagenet" = ImageNet-normalised frames; "unit" = [0, 1] frames, as those codes.
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None,
                 backbone_passes: str = "joint", backbone_input: str = "imagenet"):
        super().__init__()
        self.backbone_name, self.backbone_weights = backbone, backbone_weights
        if backbone_input not in ("imagenet", "unit"):
            raise ValueError(f"backbone_input must be 'imagenet' or 'unit'; got {backbone_input!r}")
        if backbone_passes not in ("joint", "separate"):
            raise ValueError(f"backbone_passes must be 'joint' or 'separate'; got {backbone_passes!r}")
        self.backbone_input, self.backbone_passes = backbone_input, backbone_passes
        self.backbone, self.feature_dim, self.backbone_loaded = self.build_backbone(backbone, backbone_weights)

    def build_backbone(self, name: str, weights: str | None) -> tuple[nn.Module, int, bool]:
        """The CNN, its feature dim and whether weights were loaded (default: the pooled ResNet)."""
        return build_resnet(name, weights)

    def backbones(self) -> list[nn.Module]:
        """The CNNs (`train_backbone: false` freezes them)."""
        return [self.backbone]

    def backbone_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> the (B*T, 3, H, W) batch the CNN sees, in the `backbone_input` convention."""
        x = frames.flatten(0, 1)
        if self.backbone_input == "unit":   # official TRX / OTAM reference / STRM: [0, 1] frames
            mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
            std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
            x = x * std + mean
        return x

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> per-frame features (B, T, D)."""
        b, t = frames.shape[:2]
        return self.backbone(self.backbone_frames(frames)).reshape(b, t, -1)

    def embed_episode(self, support: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames (S, T, 3, H, W), (Q, T, 3, H, W) -> features (S, T, D), (Q, T, D), in one backbone
        pass or two (`backbone_passes`)."""
        if self.backbone_passes == "separate":
            return self.embed(support), self.embed(query)
        features = self.embed(torch.cat([support, query]))
        return features[:support.shape[0]], features[support.shape[0]:]

    def backbone_metadata(self) -> dict:
        """The backbone entries of a result file's metadata."""
        return {"backbone": "pretrained" if self.backbone_loaded else "random_init",
                "backbone_arch": self.backbone_name, "backbone_weights": self.backbone_weights}


class ResNetFeatureMap(nn.Module):
    """A torchvision ResNet up to its last stage (no pooling, no classifier): `(B, 3, H, W) -> (B, D, h, w)`,
    the spatial feature map (D = 2048, h = w = 7 for ResNet-50 at 224 px). STRM's patch tokens.

    Args: as `build_resnet` (the same trunk and weights; only the pooling and the classifier are dropped).
    """

    def __init__(self, name: str = "resnet50", weights: str | None = None):
        super().__init__()
        self.net, self.dim, self.loaded = build_resnet(name, weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))


class ResNetStages(nn.Module):
    """A torchvision ResNet's four stage outputs (no pooling, no classifier): `(B, 3, H, W) -> [layer1, ...,
    layer4]` maps `(B, D_i, h_i, w_i)`, D = 256 / 512 / 1024 / 2048 at 56 / 28 / 14 / 7 px for ResNet-50 at
    224 px. SloshNet's multi-level features (its official `Modules/resnet.py` returns exactly these).

    Args: as `build_resnet` (the same trunk and weights; only the pooling and the classifier are dropped).
    """

    def __init__(self, name: str = "resnet50", weights: str | None = None):
        super().__init__()
        self.net, self.dim, self.loaded = build_resnet(name, weights)
        last_norms = [getattr(self.net, f"layer{i}")[-1] for i in range(1, 5)]
        self.dims = [(b.bn3 if hasattr(b, "bn3") else b.bn2).num_features for b in last_norms]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        stages = []
        for layer in (n.layer1, n.layer2, n.layer3, n.layer4):
            x = layer(x)
            stages.append(x)
        return stages
