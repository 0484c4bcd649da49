"""Frame backbones shared by the few-shot models (TRX, STRM, SKPS-Net): torchvision ResNets without their
classifier (`build_resnet`; `ResNetFeatureMap` keeps the last spatial feature map, STRM's patches),
weights from a local file (`components.weights.load_weights`) or `imagenet` (torchvision's published
ImageNet weights, in the torch cache, fetched there on first use), and `resnet_tiny` for CPU runs on
the synthetic videos."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

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
