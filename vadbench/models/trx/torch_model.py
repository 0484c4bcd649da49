"""TRX (Perrett et al., "Temporal-Relational CrossTransformers for Few-Shot Action Recognition",
CVPR 2021) in pure torch: a per-frame CNN and one temporal cross-transformer per tuple cardinality.

Shapes: S support videos (C classes x K shots, class-major), Q query videos, T frames, D feature
dim, P projection dim (1152), N tuples of a cardinality (28 pairs / 56 triples for T = 8).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet_tiny")


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


class BackboneWeightsError(ValueError):
    """A backbone weight file that cannot be loaded into the chosen network."""


def build_resnet(name: str = "resnet50", weights: str | None = None) -> tuple[nn.Module, int, bool]:
    """A torchvision ResNet without its classifier: `(B, 3, H, W) -> (B, D)`.

    Weights come only from the local file `weights` (a torchvision state dict, optionally under
    "state_dict"; `fc.*` entries are ignored); nothing is downloaded. Returns
    (network, feature dim D, whether weights were loaded).
    """
    if name not in RESNETS:
        raise ValueError(f"unknown backbone {name!r}; expected one of {RESNETS}")
    net = TinyResNet() if name == "resnet_tiny" else getattr(torchvision.models, name)(weights=None)
    dim = net.fc.in_features
    loaded = False
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise BackboneWeightsError(f"backbone weight file {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}
        try:
            missing, unexpected = net.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shape mismatches
            raise BackboneWeightsError(f"backbone weight file {path} does not fit torchvision {name}: {err}") from err
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing or unexpected:
            raise BackboneWeightsError(f"backbone weight file {path} does not fit torchvision {name}: "
                                       f"missing {missing[:5]}, unexpected {unexpected[:5]}")
        loaded = True
    net.fc = nn.Identity()
    return net, dim, loaded


class PositionalEncoding(nn.Module):
    """Sinusoidal encoding added to each frame feature, scaled (TRX: 0.1), then dropout."""

    def __init__(self, dim: int, max_len: int, scale: float = 0.1, dropout: float = 0.1):
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        pe = torch.zeros(max_len, dim)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div[: dim // 2])
        self.register_buffer("pe", pe * scale, persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        return self.dropout(x + self.pe[: x.shape[1]])


class TemporalCrossTransformer(nn.Module):
    """TRX's cross-transformer for one cardinality c.

    Every ordered c-tuple of frames (t1 < ... < tc) is the concatenation of its frame features;
    keys (with LayerNorm) and values are linear maps of the tuples. For each query tuple, attention
    over all tuples of all shots of a class builds a query-specific class prototype; the distance
    is the squared L2 between the query's values and that prototype, over the tuples.
    """

    def __init__(self, feature_dim: int, seq_len: int = 8, cardinality: int = 2, proj_dim: int = 1152,
                 pe_scale: float = 0.1, dropout: float = 0.1):
        super().__init__()
        self.cardinality, self.proj_dim = cardinality, proj_dim
        self.positional = PositionalEncoding(feature_dim, seq_len, pe_scale, dropout)
        tuples = torch.tensor(list(itertools.combinations(range(seq_len), cardinality)), dtype=torch.long)
        self.register_buffer("tuples", tuples, persistent=False)  # (N, c), moves with the module
        self.key = nn.Linear(feature_dim * cardinality, proj_dim)
        self.value = nn.Linear(feature_dim * cardinality, proj_dim)
        self.key_norm = nn.LayerNorm(proj_dim)

    @property
    def num_tuples(self) -> int:
        return self.tuples.shape[0]

    def tuple_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, N, c*D): every frame tuple, its frame features concatenated."""
        b = frames.shape[0]
        return frames[:, self.tuples].reshape(b, self.num_tuples, -1)

    def project(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) frame features -> keys (with LayerNorm) and values (B, N, P) of every tuple.

        Per video and independent of the episode: the test-time cache stores these."""
        x = self.tuple_features(self.positional(frames))
        return self.key_norm(self.key(x)), self.value(x)

    def attend(self, s_key: torch.Tensor, s_value: torch.Tensor, q_key: torch.Tensor, q_value: torch.Tensor,
               way: int) -> torch.Tensor:
        """Logits (Q, C) from projected tuples: support (S, N, P) class-major (S = C*K), query (Q, N, P)."""
        shots, n = s_key.shape[0] // way, self.num_tuples
        s_key = s_key.reshape(way, shots, n, -1)
        s_value = s_value.reshape(way, shots, n, -1)
        # TRX eq. (3)-(4): scaled dot-product between each query tuple and every support tuple of a class
        scores = torch.einsum("qip,wsjp->qwisj", q_key, s_key) / math.sqrt(self.proj_dim)
        q_n = scores.shape[0]
        attn = scores.reshape(q_n, way, n, shots * n).softmax(dim=-1).reshape(q_n, way, n, shots, n)
        # TRX eq. (5): query-specific prototype, attention-weighted support values
        prototype = torch.einsum("qwisj,wsjp->qwip", attn, s_value)    # (Q, C, N, P)
        # TRX eq. (6): squared distance to the prototype, divided by the number of tuples
        distance = (q_value[:, None] - prototype).pow(2).sum(dim=(-1, -2)) / n
        return -distance

    def forward(self, support: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        """Logits (Q, C) = -distance to each class's query-specific prototype.

        support: (S, T, D) class-major (S = C*K); query: (Q, T, D).
        """
        return self.attend(*self.project(support), *self.project(query), way)


class TRXModel(nn.Module):
    """Backbone + cross-transformers; `embed` frames once, `forward` classifies queries of an episode.

    Args:
        backbone: torchvision ResNet name (resnet50 in the paper; resnet18 for CPU/synthetic runs).
        backbone_weights: local weight file (ImageNet in the paper); None = random init.
        seq_len: frames per video T.
        cardinalities: tuple sizes, one cross-transformer each ({2, 3} in the paper).
        proj_dim: key/value dim P (1152).
        pe_scale, dropout: positional-encoding scale (0.1) and dropout (0.1).
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None, seq_len: int = 8,
                 cardinalities: tuple[int, ...] = (2, 3), proj_dim: int = 1152, pe_scale: float = 0.1,
                 dropout: float = 0.1):
        super().__init__()
        if not cardinalities:
            raise ValueError("TRX needs at least one tuple cardinality")
        self.backbone, self.feature_dim, self.backbone_loaded = build_resnet(backbone, backbone_weights)
        self.seq_len = seq_len
        self.transformers = nn.ModuleList(
            TemporalCrossTransformer(self.feature_dim, seq_len, c, proj_dim, pe_scale, dropout) for c in cardinalities)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> per-frame features (B, T, D)."""
        b, t = frames.shape[:2]
        return self.backbone(frames.flatten(0, 1)).reshape(b, t, -1)

    @staticmethod
    def _class_major(support_labels: torch.Tensor, way: int) -> torch.Tensor:
        counts = torch.bincount(support_labels, minlength=way)
        if counts.numel() != way or bool((counts != counts[0]).any()) or int(counts[0]) == 0:
            raise ValueError(f"TRX needs the same number of shots for each of the {way} classes; "
                             f"got counts {counts.tolist()}")
        return torch.argsort(support_labels, stable=True)

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> torch.Tensor:
        """Logits (Q, C) from frame features: support (S, T, D), labels (S,) in [0, C), query (Q, T, D)."""
        support = support[self._class_major(support_labels, way)]
        # TRX: the cardinalities' logits are averaged
        return torch.stack([t(support, query, way) for t in self.transformers], dim=-1).mean(dim=-1)

    def project(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, N_total, 2, P): every cardinality's tuple keys and values, tuples concatenated.

        All of the head's per-video work (positional encoding, tuple building, key/value maps); the
        evaluation cache stores this, so a cached episode costs only the attention (`forward_projected`)."""
        kv = [torch.stack(t.project(frames), dim=2) for t in self.transformers]
        return torch.cat(kv, dim=1)

    def forward_projected(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                          way: int) -> torch.Tensor:
        """`forward` from `project` outputs: support (S, N_total, 2, P), query (Q, N_total, 2, P)."""
        support = support[self._class_major(support_labels, way)]
        logits, start = [], 0
        for t in self.transformers:
            s, q = support[:, start:start + t.num_tuples], query[:, start:start + t.num_tuples]
            logits.append(t.attend(s[:, :, 0], s[:, :, 1], q[:, :, 0], q[:, :, 1], way))
            start += t.num_tuples
        return torch.stack(logits, dim=-1).mean(dim=-1)
