"""HyRSM (Wang et al., "Hybrid Relation Guided Set Matching for Few-shot Action Recognition", CVPR 2022)
in pure torch: a per-frame CNN, the hybrid relation module (intra-relation: self-attention over the
frames of each video; inter-relation: self-attention over the videos of an episode) and the set
matching metric (bidirectional Hausdorff distance between the frame sets).

Shapes: S support videos (C classes x K shots), Q query videos, T frames, D feature dim (512 for
ResNet-18, 2048 for ResNet-50), H attention heads, N_cls training classes of the frame classifier.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.backbones import FrameBackboneCore
from vadbench.models.components.precision import in_float32
from vadbench.models.trx.torch_model import check_shots


@functools.lru_cache(maxsize=16)
def _positional_table_f64(frames: int, dim: int) -> torch.Tensor:
    angle = [[t / 10000 ** ((2 * j) / dim) for j in range(dim)] for t in range(frames)]   # official arithmetic
    return torch.tensor([[math.sin(a) if j % 2 == 0 else math.cos(a) for j, a in enumerate(row)] for row in angle],
                        dtype=torch.float64)


def positional_table(frames: int, dim: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(T, D) sinusoids of the official `PositionalEncoder`: angle(t, j) = t / 10000^(2j / D) for every
    dim j (the official table uses j itself, not j rounded down to even), sin on even j, cos on odd j.
    Computed once per (T, D) in float64 with the official scalar arithmetic, then cast."""
    return _positional_table_f64(frames, dim).to(device=device, dtype=dtype)


class IntraRelation(nn.Module):
    """HyRSM eq. (1): per-video temporal relation, a pre-norm multi-head self-attention over the T frames
    with a residual, then ReLU. The frames first get the official positional encoding
    x sqrt(D / A) + B pe(t) (A = 10, B = 1 on HMDB51; A = 2048, B = 0.01 on Kinetics-100) and dropout."""

    def __init__(self, dim: int, heads: int = 8, pe_a: float = 10.0, pe_b: float = 1.0, pe_dropout: float = 0.1,
                 dropout: float = 0.2):
        super().__init__()
        if dim % heads:
            raise ValueError(f"HyRSM: the feature dim {dim} must be divisible by the {heads} heads")
        self.dim, self.heads, self.pe_a, self.pe_b = dim, heads, pe_a, pe_b
        self.pe_dropout = nn.Dropout(pe_dropout)
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.out_dropout = nn.Dropout(dropout)

    def encode_positions(self, frames: torch.Tensor) -> torch.Tensor:
        t = frames.shape[1]
        pe = positional_table(t, self.dim, frames.dtype, frames.device)
        return self.pe_dropout(frames * math.sqrt(self.dim / self.pe_a) + self.pe_b * pe)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) frame features -> (B, T, D) intra-related features."""
        x = self.encode_positions(frames)
        b, t, _ = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # (B, H, T, D/H)
        attended = self.attend(q, k, v)                                                         # (B, H, T, D/H)
        attended = attended.transpose(1, 2).reshape(b, t, self.dim)
        return F.relu(self.out_dropout(self.out(attended)) + x)   # residual on the un-normalised input

    @staticmethod
    @in_float32  # attention logits and their softmax (docs/precision.md)
    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])   # scaled dot product, scale (D/H)^-1/2
        return scores.softmax(dim=-1) @ v


class InterRelation(nn.Module):
    """HyRSM eq. (2): relations between the videos of an episode, a post-norm multi-head self-attention over
    one token per video (its frames' mean): LayerNorm(fc(attention) + token), then ReLU."""

    def __init__(self, dim: int, heads: int = 8, attn_dropout: float = 0.1, dropout: float = 0.05):
        super().__init__()
        if dim % heads:
            raise ValueError(f"HyRSM: the feature dim {dim} must be divisible by the {heads} heads")
        self.dim, self.heads = dim, heads
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.attn_dropout = nn.Dropout(attn_dropout)
        self.fc = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(Q, N, D) tokens (the N videos of an episode as one query sees it) -> (Q, N, D)."""
        b, n, _ = tokens.shape
        heads = [t(tokens).reshape(b, n, self.heads, -1).transpose(1, 2) for t in (self.query, self.key, self.value)]
        attended = self.attend(*heads).transpose(1, 2).reshape(b, n, self.dim)
        return F.relu(self.norm(self.dropout(self.fc(attended)) + tokens))

    @in_float32  # attention logits and their softmax (docs/precision.md)
    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])   # temperature sqrt(D/H)
        return self.attn_dropout(scores.softmax(dim=-1)) @ v


@in_float32  # cosine distances, their minima and sums (docs/precision.md)
def set_distance(support: torch.Tensor, query: torch.Tensor, reduction: Literal["sum", "mean"] = "sum") -> torch.Tensor:
    """HyRSM eq. (5)-(6), Bi-MHM: bidirectional mean Hausdorff distance between frame sets.

    support: (Q, C, T, D) class videos as each query sees them; query: (Q, T, D). Frame distance
    1 - cosine; every support frame to its nearest query frame plus every query frame to its nearest
    support frame, summed over the frames (official code; `mean`: divided by T, the paper's mean).
    Returns (Q, C).
    """
    similarity = torch.einsum("qcsd,qtd->qcst", F.normalize(support, dim=-1), F.normalize(query, dim=-1))
    distance = 1 - similarity                                          # (Q, C, T_support, T_query)
    support_to_query = distance.min(dim=-1).values                     # (Q, C, T_support)
    query_to_support = distance.min(dim=-2).values                     # (Q, C, T_query)
    if reduction == "mean":
        return support_to_query.mean(-1) + query_to_support.mean(-1)
    return support_to_query.sum(-1) + query_to_support.sum(-1)


@dataclass
class HyRSMOutput:
    """logits (Q, C): -set distances; frame_logits (S + Q, T, N_cls): the frame classifier on the
    intra-related frames, support then queries (the auxiliary classification loss)."""

    logits: torch.Tensor
    frame_logits: torch.Tensor


class HyRSMModel(FrameBackboneCore):
    """Backbone + hybrid relation module + set matching; `embed` frames once, `forward` scores an episode.

    Args:
        backbone: torchvision ResNet name (resnet50 in the paper; resnet18 for CPU/synthetic runs).
        backbone_weights: `imagenet`, a local weight file, or None = random init (`FrameBackboneCore`).
        num_classes: training classes of the frame classifier (31 HMDB51, 64 Kinetics-100); an episode's
            `class_ids` index them.
        heads: attention heads of both relation modules (8).
        pe_a, pe_b: positional encoding x sqrt(D / A) + B pe (official POSITION_A / POSITION_B).
        distance_reduction: `sum` over frames (official code) or `mean` (the paper's "mean" Hausdorff).
        backbone_passes: `separate` (support, then queries: the official code) or `joint`.
        backbone_input: `imagenet`-normalised frames, or `unit` [0, 1] frames (TRX's official input).
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None, num_classes: int = 64,
                 heads: int = 8, pe_a: float = 10.0, pe_b: float = 1.0,
                 distance_reduction: Literal["sum", "mean"] = "sum",
                 backbone_passes: Literal["joint", "separate"] = "separate",
                 backbone_input: Literal["imagenet", "unit"] = "imagenet"):
        if distance_reduction not in ("sum", "mean"):
            raise ValueError(f"distance_reduction must be 'sum' or 'mean'; got {distance_reduction!r}")
        super().__init__(backbone, backbone_weights, backbone_passes, backbone_input)
        self.distance_reduction, self.num_classes = distance_reduction, num_classes
        d = self.feature_dim
        self.intra = IntraRelation(d, heads, pe_a, pe_b)
        self.inter = InterRelation(d, heads)
        self.fuse = nn.Linear(2 * d, d)                 # official Conv1d(2D, D, kernel 1) over the frames
        self.frame_classifier = nn.Linear(d, num_classes)

    def relate(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) CNN features -> intra-related features: per video, episode-independent (cached at test)."""
        return self.intra(frames)

    def match(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        """Logits (Q, C) from intra-related features: support (S, T, D), labels (S,) in [0, C), query (Q, T, D).

        The shots of a class are averaged into a prototype (official `CNN_HyRSM_5shot`; with one shot the
        same function as `CNN_HyRSM_1shot`); each query attends over the C prototypes and itself."""
        check_shots(support_labels, way, "HyRSM")
        order = torch.argsort(support_labels, stable=True)   # class-major
        q, (t, d) = query.shape[0], query.shape[1:]
        prototypes = support[order].reshape(way, -1, t, d).mean(dim=1)                 # (C, T, D)
        # HyRSM eq. (2): one token per video (frame mean), the C prototypes and the query, per query
        tokens = torch.cat([prototypes.mean(dim=1).expand(q, way, d), query.mean(dim=1, keepdim=True)], dim=1)
        tokens = self.inter(tokens)                                                    # (Q, C + 1, D)
        # HyRSM eq. (3): each frame concatenated with its video's inter-related token, fused back to D
        s = self.fuse(torch.cat([prototypes.expand(q, way, t, d), tokens[:, :way, None].expand(q, way, t, d)], -1))
        qf = self.fuse(torch.cat([query, tokens[:, way:].expand(q, t, d)], -1))
        return -set_distance(s, qf, self.distance_reduction)                           # HyRSM eq. (7)

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> HyRSMOutput:
        """From CNN features support (S, T, D), labels (S,), query (Q, T, D): logits and frame logits."""
        support, query = self.relate(support), self.relate(query)
        frame_logits = self.frame_classifier(torch.cat([support, query]))
        return HyRSMOutput(self.match(support, support_labels, query, way), frame_logits)

    def logits(self, outputs: HyRSMOutput) -> torch.Tensor:
        return outputs.logits

    def result_metadata(self) -> dict:
        return self.backbone_metadata()
