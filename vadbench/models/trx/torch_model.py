"""TRX (Perrett et al., "Temporal-Relational CrossTransformers for Few-Shot Action Recognition",
CVPR 2021) in pure torch: a per-frame CNN and one temporal cross-transformer per tuple cardinality.

Shapes: S support videos (C classes x K shots, class-major), Q query videos, T frames, D feature
dim, P projection dim (1152), N tuples of a cardinality (28 pairs / 56 triples for T = 8).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from vadbench.models.components.backbones import FrameBackboneCore
from vadbench.models.components.precision import in_float32


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

    @in_float32  # attention logits, prototypes and squared distances in float32 (docs/precision.md)
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


def average_over_cardinalities(transformers: nn.ModuleList, support: torch.Tensor, query: torch.Tensor,
                               way: int) -> torch.Tensor:
    """TRX: the logits (Q, C) of the cross-transformers (one per cardinality) are averaged."""
    return torch.stack([t(support, query, way) for t in transformers], dim=-1).mean(dim=-1)


def project_tuples(transformers: nn.ModuleList, frames: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, N_total, 2, P): every cardinality's tuple keys and values, tuples concatenated
    (the per-video work of the cross-transformers, which the evaluation cache stores)."""
    return torch.cat([torch.stack(t.project(frames), dim=2) for t in transformers], dim=1)


def attend_projected(transformers: nn.ModuleList, support: torch.Tensor, query: torch.Tensor,
                     way: int) -> torch.Tensor:
    """`average_over_cardinalities` from `project_tuples` outputs: support (S, N_total, 2, P) class-major,
    query (Q, N_total, 2, P) -> logits (Q, C)."""
    logits, start = [], 0
    for t in transformers:   # one per cardinality (2 or 3), not per video
        s, q = support[:, start:start + t.num_tuples], query[:, start:start + t.num_tuples]
        logits.append(t.attend(s[:, :, 0], s[:, :, 1], q[:, :, 0], q[:, :, 1], way))
        start += t.num_tuples
    return torch.stack(logits, dim=-1).mean(dim=-1)   # TRX: the cardinalities' logits are averaged


@dataclass(frozen=True)
class TRXHeadConfig:
    """Settings of TRX's cross-transformer head, the one place TRX and SKPS-Net's heads read them.

    Args:
        seq_len: frames per video T (8; linked from `data.init_args.seq_len` on the command line).
        cardinalities: tuple sizes, one cross-transformer each ([2, 3]; [1] is a frame-level variant).
        proj_dim: key/value dim P (1152).
        pe_scale, dropout: positional-encoding scale (0.1) and dropout (0.1).
    """

    seq_len: int = 8
    cardinalities: tuple[int, ...] = (2, 3)
    proj_dim: int = 1152
    pe_scale: float = 0.1
    dropout: float = 0.1

    def __post_init__(self):
        if not self.cardinalities:
            raise ValueError("TRX needs at least one tuple cardinality (head.cardinalities is empty)")

    def transformers(self, feature_dim: int, proj_dim: int | None = None) -> nn.ModuleList:
        """One `TemporalCrossTransformer` per cardinality over `feature_dim` features (`proj_dim`
        overrides P, e.g. P / heads for SKPS-Net's multi-head subspaces)."""
        return nn.ModuleList(
            TemporalCrossTransformer(feature_dim=feature_dim, seq_len=self.seq_len, cardinality=c,
                                     proj_dim=proj_dim or self.proj_dim, pe_scale=self.pe_scale, dropout=self.dropout)
            for c in self.cardinalities)


class CrossTransformerHead(nn.Module):
    """TRX cross-transformers over one feature space, one per cardinality; logits averaged."""

    def __init__(self, feature_dim: int, head: TRXHeadConfig, proj_dim: int | None = None):
        super().__init__()
        self.transformers = head.transformers(feature_dim=feature_dim, proj_dim=proj_dim)

    def forward(self, support: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        return average_over_cardinalities(self.transformers, support, query, way)


def check_shots(support_labels: torch.Tensor, way: int, model: str) -> None:
    """Every one of the `way` classes has the same, non-zero number of support videos."""
    counts = torch.bincount(support_labels, minlength=way)
    if counts.numel() != way or bool((counts != counts[0]).any()) or int(counts[0]) == 0:
        raise ValueError(f"{model} needs the same number of shots for each of the {way} classes; "
                         f"got counts {counts.tolist()}")


def sort_class_major(support: torch.Tensor, support_labels: torch.Tensor, way: int, model: str) -> torch.Tensor:
    """The support videos (S, ...) reordered class-major (stable), after `check_shots`."""
    check_shots(support_labels, way, model)
    return support[torch.argsort(support_labels, stable=True)]


class TRXModel(FrameBackboneCore):
    """Backbone + cross-transformers; `embed` frames once, `forward` classifies queries of an episode.

    Args:
        backbone: torchvision ResNet name (resnet50 in the paper; resnet18 for CPU/synthetic runs).
        backbone_weights: `imagenet` = torchvision's ImageNet weights (the paper's; torch cache, fetched
            on first use), or a local weight file; None = random init, recorded as `backbone: random_init`
            in the result file (`components.backbones.build_resnet`).
        head: the cross-transformer settings (`TRXHeadConfig`: seq_len, cardinalities, proj_dim, ...).
        backbone_passes: "joint" = support and queries through the backbone in one batch; "separate" =
            two passes, as the official code (BatchNorm statistics differ in training).
        backbone_input: "imagenet" = ImageNet-normalised frames; "unit" = [0, 1] frames, as the official code.

    `backbones`, `embed` and `embed_episode` come from `components.backbones.FrameBackboneCore` (shared with OTAM).
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None,
                 head: TRXHeadConfig = TRXHeadConfig(), backbone_passes: Literal["joint", "separate"] = "joint",
                 backbone_input: Literal["imagenet", "unit"] = "imagenet"):
        super().__init__(backbone, backbone_weights, backbone_passes, backbone_input)
        self.seq_len, self.cardinalities = head.seq_len, list(head.cardinalities)
        self.transformers = head.transformers(feature_dim=self.feature_dim)

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> torch.Tensor:
        """Logits (Q, C) from frame features: support (S, T, D), labels (S,) in [0, C), query (Q, T, D)."""
        check_shots(support_labels, way, "TRX")
        order = torch.argsort(support_labels, stable=True)  # class-major
        return average_over_cardinalities(self.transformers, support[order], query, way)

    def logits(self, outputs: torch.Tensor) -> torch.Tensor:
        """The logits used for accuracy (`forward` returns them)."""
        return outputs

    def result_metadata(self) -> dict:
        return {**self.backbone_metadata(), "cardinalities": self.cardinalities}

    def project(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, N_total, 2, P): every cardinality's tuple keys and values, tuples concatenated.

        All of the head's per-video work (positional encoding, tuple building, key/value maps); the
        evaluation cache stores this, so a cached episode costs only the attention (`forward_projected`)."""
        return project_tuples(self.transformers, frames)

    def forward_projected(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                          way: int) -> torch.Tensor:
        """`forward` from `project` outputs: support (S, N_total, 2, P), query (Q, N_total, 2, P)."""
        support = sort_class_major(support, support_labels, way, "TRX")
        return attend_projected(self.transformers, support, query, way)
