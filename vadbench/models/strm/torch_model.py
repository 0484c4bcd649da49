"""STRM (Thatipelli et al., "Spatio-temporal Relation Modeling for Few-shot Action Recognition",
CVPR 2022) in pure torch: TRX's cross-transformers on features enriched by a patch-level (PLE) and a
frame-level (FLE) enrichment, plus a query-class similarity classifier (QC) on the patch-enriched
features.

Shapes: S support videos (C classes x K shots, class-major after sorting), Q query videos, T frames,
M patches per frame (4 x 4 = 16), D feature dim, P TRX projection dim (1152), H = D // 2 the QC
embedding dim, N tuples of a cardinality (28 pairs for T = 8).

Per video: ResNet feature map (T, D, h, w) -> adaptive max pool to 4 x 4 -> M = 16 patch tokens
-> PLE (self-attention over the patches + bottleneck MLP) -> mean over patches (T, D)
-> QC tuple embeddings, and FLE (token MLP over frames + channel MLP) -> TRX tuple keys / values.
Per episode: QC logits = -mean over query tuples of the distance to the nearest support tuple of a
class; TRX logits as in TRX. The official code (Anirudh257/strm 54368fe, model.py / run.py) is the
reference: tests/golden/test_strm_golden.py proves this module equal to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.backbones import FrameBackboneCore, ResNetFeatureMap
from vadbench.models.components.precision import in_float32
from vadbench.models.components.tuples import TupleEmbedding
from vadbench.models.trx.torch_model import (PositionalEncoding, TRXHeadConfig, attend_projected,
                                             average_over_cardinalities, project_tuples, sort_class_major)


@in_float32  # attention logits and their softmax: docs/precision.md
def unscaled_attention(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """(B, M, D), (B, M, D) -> softmax over keys of q . k (B, M, M); no 1/sqrt(D), as the official code."""
    return torch.einsum("bid,bjd->bij", query, key).softmax(dim=-1)


class PatchEnrichment(nn.Module):
    """STRM's patch-level enrichment (PLE; official `Self_Attn_Bot`).

    x + PE -> e = gamma * softmax(q k^T) v + x -> bottleneck MLP D -> D/2 -> D/2 -> D (ReLU) + e.
    gamma is a learnt scalar initialised at 0 (the attention starts switched off).
    """

    def __init__(self, dim: int, num_patches: int, pe_scale: float = 0.1, dropout: float = 0.1):
        super().__init__()
        self.positional = PositionalEncoding(dim, num_patches, pe_scale, dropout)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(nn.Linear(dim, dim // 2), nn.ReLU(), nn.Linear(dim // 2, dim // 2), nn.ReLU(),
                                 nn.Linear(dim // 2, dim))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, M, D) patch tokens of B frames -> enriched tokens (B, M, D)."""
        x = self.positional(patches)
        attn = unscaled_attention(self.query(x), self.key(x)).to(x.dtype)   # (B, M, M), rows sum to 1
        enriched = self.gamma * torch.bmm(attn, self.value(x)) + x
        return self.mlp(enriched) + enriched


class FrameEnrichment(nn.Module):
    """STRM's frame-level enrichment (FLE; official `MLP_Mix_Enrich`): an MLP mixer over the frames.

    x + PE -> x' = token MLP over the T frames (T -> T -> T, ReLU) + x -> channel MLP (D -> D -> D, ReLU) + x'.
    """

    def __init__(self, dim: int, seq_len: int, pe_scale: float = 0.1, dropout: float = 0.1):
        super().__init__()
        self.positional = PositionalEncoding(dim, seq_len, pe_scale, dropout)
        self.token_mlp = nn.Sequential(nn.Linear(seq_len, seq_len), nn.ReLU(), nn.Linear(seq_len, seq_len))
        self.channel_mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, D)."""
        x = self.positional(frames)
        x = self.token_mlp(x.transpose(1, 2)).transpose(1, 2) + x      # mixing across frames
        return self.channel_mlp(x) + x                                 # mixing across channels


class QueryClassSimilarity(TupleEmbedding):
    """STRM's query-class similarity classifier (QC) for one cardinality c (official `DistanceLoss`).

    Tuples of the patch-enriched frame features (all c-combinations, as TRX) -> dropout -> Linear(c D -> D/2)
    -> ReLU; for each query tuple the Euclidean distance to the nearest tuple of any shot of a class; the
    logit is minus the mean of these distances over the query's tuples.
    """

    def __init__(self, dim: int, seq_len: int = 8, cardinality: int = 2, dropout: float = 0.1):
        super().__init__(dim, seq_len, cardinality, dim // 2, dropout)

    @in_float32  # distances and their minimum: docs/precision.md
    def score(self, support: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        """Logits (Q, C) from tuple embeddings: support (S, N, H) class-major (S = C K), query (Q, N, H)."""
        q_n, n, h = query.shape
        distance = torch.cdist(query.reshape(q_n * n, h), support.reshape(-1, h))   # (Q N, S N) Euclidean
        nearest = distance.reshape(q_n, n, way, -1).amin(dim=-1)    # nearest tuple of any shot of the class
        return -nearest.mean(dim=1)                                 # (Q, C)

    def forward(self, support: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        return self.score(self.embed(support), self.embed(query), way)


@dataclass
class STRMOutput:
    """What `STRMModel.forward` returns: TRX logits on the FLE features (Q, C) and QC logits on the
    PLE features (Q, C)."""

    frame_logits: torch.Tensor
    patch_logits: torch.Tensor


class STRMModel(FrameBackboneCore):
    """ResNet feature maps + PLE + QC + FLE + TRX cross-transformers.

    Args:
        backbone: torchvision ResNet name (resnet50 in the paper; resnet18 / resnet_tiny for CPU runs).
        backbone_weights: `imagenet`, a local weight file, or None (random init), as TRX.
        head: TRX cross-transformer settings (`TRXHeadConfig`); the official scripts use cardinalities [2]
            and P = 1152. Its `seq_len`, `pe_scale` and `dropout` also serve the FLE and the QC tuples.
        patch_grid: the feature map is max-pooled to patch_grid x patch_grid patches (4: 16 patches).
        qc_logit_weight: weight of the QC logits added to the TRX logits for the prediction (0.1).
        qc_dropout: dropout on the features entering the QC classifier (0.1; training only here, see README).
        enrichment_dropout: dropout after the PLE and FLE positional encodings (0.1).
        train_qc_projection: learn the QC projection. The official code keeps the QC modules in a plain list,
            so its projection is never given to the optimizer and stays at its random init (false in
            recipe/strm_official.yaml); the paper implies it is learnt (the default).
        backbone_passes, backbone_input: as `TRXModel` (official: `separate`, `unit`).
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None,
                 head: TRXHeadConfig = TRXHeadConfig(cardinalities=(2,)), patch_grid: int = 4,
                 qc_logit_weight: float = 0.1, qc_dropout: float = 0.1, enrichment_dropout: float = 0.1,
                 train_qc_projection: bool = True, backbone_passes: Literal["joint", "separate"] = "joint",
                 backbone_input: Literal["imagenet", "unit"] = "imagenet"):
        if patch_grid < 1:
            raise ValueError(f"patch_grid must be a positive number of patches per side; got {patch_grid}")
        super().__init__(backbone, backbone_weights, backbone_passes, backbone_input)
        self.patch_grid, self.qc_logit_weight = patch_grid, qc_logit_weight
        self.seq_len, self.cardinalities = head.seq_len, list(head.cardinalities)
        self.pool = nn.AdaptiveMaxPool2d(patch_grid)
        d = self.feature_dim
        self.patch_enrichment = PatchEnrichment(d, patch_grid * patch_grid, head.pe_scale, enrichment_dropout)
        self.query_class = nn.ModuleList(QueryClassSimilarity(d, head.seq_len, c, qc_dropout)
                                         for c in head.cardinalities)
        self.query_class.requires_grad_(train_qc_projection)
        self.frame_enrichment = FrameEnrichment(d, head.seq_len, head.pe_scale, enrichment_dropout)
        self.transformers = head.transformers(feature_dim=d)

    def build_backbone(self, name: str, weights: str | None) -> tuple[nn.Module, int, bool]:
        """The ResNet without its pooling: STRM's patches come from the last spatial feature map."""
        net = ResNetFeatureMap(name, weights)
        return net, net.dim, net.loaded

    # ------------------------------------------------------------------ per video
    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> patch tokens (B, T, M, D): the feature map max-pooled to the patch grid
        (`embed_episode`, one backbone pass or two, comes with `FrameBackboneCore`)."""
        b, t = frames.shape[:2]
        patches = self.pool(self.backbone(self.backbone_frames(frames)))     # (B T, D, g, g)
        return patches.flatten(2).transpose(1, 2).reshape(b, t, self.patch_grid ** 2, -1)

    def enrich_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, T, M, D) patch tokens -> PLE, then the mean over the patches: (B, T, D)."""
        b, t, m, d = patches.shape
        if t != self.seq_len:
            raise ValueError(f"STRM was built for {self.seq_len} frames per video (head.seq_len); got {t}")
        return self.patch_enrichment(patches.reshape(b * t, m, d)).mean(dim=1).reshape(b, t, d)

    def project(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, T, M, D) -> (B, X): every per-video part of the head, flattened and concatenated: the QC tuple
        embeddings of each cardinality, then the TRX tuple keys and values of each cardinality. The
        evaluation cache stores this; `forward_projected` scores an episode from it."""
        frames = self.enrich_patches(patches)
        parts = [qc.embed(frames).flatten(1) for qc in self.query_class]
        enriched = self.frame_enrichment(frames)
        parts.append(project_tuples(self.transformers, enriched).flatten(1))
        return torch.cat(parts, dim=1)

    # ------------------------------------------------------------------ per episode
    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> STRMOutput:
        """Patch tokens: support (S, T, M, D), labels (S,) in [0, C), query (Q, T, M, D) -> `STRMOutput`."""
        if support.dim() != 4 or query.dim() != 4:
            raise ValueError("STRM expects patch tokens (videos, frames, patches, dim) from `embed`; "
                             f"got support {tuple(support.shape)}, query {tuple(query.shape)}")
        support = sort_class_major(support, support_labels, way, "STRM")
        s, q = self.enrich_patches(support), self.enrich_patches(query)
        # QC on the patch-enriched features, averaged over cardinalities (official: mean of the stack)
        patch_logits = torch.stack([qc(s, q, way) for qc in self.query_class], dim=-1).mean(dim=-1)
        frame_logits = average_over_cardinalities(self.transformers, self.frame_enrichment(s),
                                                  self.frame_enrichment(q), way)
        return STRMOutput(frame_logits=frame_logits, patch_logits=patch_logits)

    def forward_projected(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                          way: int) -> STRMOutput:
        """`forward` from `project` outputs: support (S, X), query (Q, X)."""
        support = sort_class_major(support, support_labels, way, "STRM")
        patch_logits, start = [], 0
        for qc in self.query_class:   # one per cardinality, not per video
            size = qc.num_tuples * qc.embed_dim
            s = support[:, start:start + size].reshape(support.shape[0], qc.num_tuples, -1)
            patch_logits.append(qc.score(s, query[:, start:start + size].reshape(query.shape[0], qc.num_tuples, -1),
                                         way))
            start += size
        kv_shape = (-1, 2, self.transformers[0].proj_dim)   # the rest: `project_tuples` (N_total, 2, P)
        frame_logits = attend_projected(self.transformers, support[:, start:].reshape(support.shape[0], *kv_shape),
                                        query[:, start:].reshape(query.shape[0], *kv_shape), way)
        return STRMOutput(frame_logits=frame_logits, patch_logits=torch.stack(patch_logits, dim=-1).mean(dim=-1))

    def logits(self, outputs: STRMOutput) -> torch.Tensor:
        """The prediction's logits (Q, C): TRX logits + qc_logit_weight x QC logits (official run.py)."""
        return outputs.frame_logits + self.qc_logit_weight * outputs.patch_logits

    def result_metadata(self) -> dict:
        return {**self.backbone_metadata(), "cardinalities": self.cardinalities}
