"""SloshNet (Xing et al., "Revisiting the Spatial and Temporal Modeling for Few-shot Action Recognition",
AAAI 2023) in pure torch: multi-level ResNet features fused by a searched cell, short- and long-term
temporal modelling, then TRX's cross-transformers.

Per video (`embed`): ResNet stage maps (layer1..layer4) -> spatial modulation (every stage brought to the
last stage's channels and size) -> feature-fusion cell (DARTS-style mixed operations with learnt
architecture weights alpha) -> level-weighted sum (beta): one fused map per frame (T, D, h, w).
Per episode (`forward`): short-term motion module (official `CMM`) and long-term temporal transformer
(official `TemporalTransformer`) on the support batch and on the query batch, mixed by gamma -> spatial
mean -> TRX cross-transformers (official scripts: single frames, cardinality 1) -> logits (Q, C).

The official code (jiazheng-xing/SloshNet 80ddc6d: model.py, search_models/, Modules/) is the reference:
tests/golden/test_sloshnet_golden.py proves this module equal to it (logits, loss, every gradient).

Shapes: S support videos (C classes x K shots, class-major after sorting), Q query videos, T frames,
D the last stage's channels (2048 for ResNet-50), h x w its map size (7 x 7 at 224 px).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.backbones import FrameBackboneCore, ResNetStages
from vadbench.models.trx.torch_model import TRXHeadConfig, average_over_cardinalities, sort_class_major


def downsample_block(channels: int) -> nn.Sequential:
    """Official `Conv3x3`: ReLU -> BatchNorm(C) -> 3x3 convolution C -> 2C, stride 2, padding 1, no bias."""
    return nn.Sequential(nn.ReLU(), nn.BatchNorm2d(channels),
                         nn.Conv2d(channels, 2 * channels, kernel_size=3, stride=2, padding=1, bias=False))


class SpatialModulation(nn.Module):
    """Official `SpatialModulation`: stage i (D_i channels) goes through log2(D / D_i) `downsample_block`s, so
    every stage has the last stage's D channels and (for ResNet strides) its h x w; the last stage is kept."""

    def __init__(self, dims: list[int]):
        super().__init__()
        planes = dims[-1]
        self.levels = nn.ModuleList()
        for d in dims:
            ratio = planes // d
            n = int(math.log2(ratio)) if ratio >= 1 else 0
            if planes % d or 2 ** n != ratio:
                raise ValueError(f"SloshNet's spatial modulation doubles channels: stage dims must be {planes} / 2^i; "
                                 f"got {dims}")
            self.levels.append(nn.Sequential(*(downsample_block(d * 2 ** i) for i in range(n))))

    def forward(self, stages: list[torch.Tensor]) -> list[torch.Tensor]:
        """[(N, D_i, h_i, w_i)] -> [(N, D, h, w)] (an empty Sequential is the identity)."""
        return [level(x) for level, x in zip(self.levels, stages)]


def gap_gate(x: torch.Tensor) -> torch.Tensor:
    """sigmoid of the global average over the map: (N, D, h, w) -> (N, D, 1, 1)."""
    return torch.sigmoid(x.mean(dim=(-2, -1), keepdim=True))


class FeatureFusionCell(nn.Module):
    """Official `SearchCNNController` + `SearchCell` (4 nodes): node 0 is the first (modulated) stage; node k
    (k = 1..3) sums, over every earlier node i, a mixed operation of (node i, stage k):

        MixedOp(x1, x2) = sum_o w_o op_o(x1, x2), w = softmax(alpha_k[i]), ops skipped where w_o <= 0.01,
        GP1(x1, x2) = x2 + gap_gate(x2) x1,  GP2(x1, x2) = x1 + gap_gate(x1) x2,  Sum(x1, x2) = x1 + x2.

    The architecture weights alpha (rows (k, 3)) are learnt jointly with the network (one-level, on the same
    episode loss; their own optimizer, see `vadbench.models.sloshnet.optim`)."""

    num_ops = 3   # GP1, GP2, Sum (official PRIMITIVES_FEWSHOT)

    def __init__(self, num_levels: int = 4, prune_threshold: float = 0.01):
        super().__init__()
        self.prune_threshold = prune_threshold
        self.alphas = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(k, self.num_ops)) for k in range(1, num_levels))

    def forward(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """[(N, D, h, w)] x 4 -> the 4 nodes [(N, D, h, w)] (node 0 = levels[0])."""
        nodes = [levels[0]]
        for k, alpha in enumerate(self.alphas, start=1):
            w = alpha.softmax(dim=-1)
            w = w * (w > self.prune_threshold)          # official: an op whose weight is <= 0.01 is skipped
            x2 = levels[k]
            gate2 = gap_gate(x2)
            node = 0
            for i, x1 in enumerate(nodes):              # a loop over the cell's edges (at most 3), not videos
                node = node + (w[i, 0] * (x2 + gate2 * x1) + w[i, 1] * (x1 + gap_gate(x1) * x2) + w[i, 2] * (x1 + x2))
            nodes.append(node)
        return nodes


class ShortTermMotion(nn.Module):
    """Official `CMM` (short-term temporal modelling): per head, the difference between the depthwise-3x3
    key of frame t+1 and the depthwise-3x3 query of frame t (0 after the last frame) gates the values:

        R_t = k_conv(K_{t+1}) - q_conv(Q_t),   out_t = -(sigmoid(W2 GELU(W1 R_t)) * V_t)

    with Q, K, V = a bias-free linear map of each position's channels, split into `heads` heads."""

    def __init__(self, dim: int, heads: int = 16):
        super().__init__()
        if dim % heads:
            raise ValueError(f"ShortTermMotion: dim {dim} is not a multiple of heads {heads}")
        self.heads, ch = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_conv = nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False)
        self.k_conv = nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False)
        self.gate = nn.Sequential(nn.Linear(dim, dim, bias=False), nn.GELU(), nn.Linear(dim, dim, bias=False),
                                  nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D, h, w) -> (B, T, D, h, w)."""
        b, t, d, h, w = x.shape
        n, ch = self.heads, d // self.heads
        qkv = self.qkv(x.permute(0, 1, 3, 4, 2)).reshape(b, t, h, w, 3, n, ch)

        def conv(i: int, layer: nn.Conv2d) -> torch.Tensor:   # (B, T, h, w, n, ch) -> (B, n, T, ch, h, w)
            y = qkv[:, :, :, :, i].permute(0, 4, 1, 5, 2, 3).reshape(b * n * t, ch, h, w)
            return layer(y).reshape(b, n, t, ch, h, w)
        q, k = conv(0, self.q_conv), conv(1, self.k_conv)
        motion = F.pad(k[:, :, 1:] - q[:, :, :-1], (0, 0, 0, 0, 0, 0, 0, 1))    # zero after the last frame
        motion = motion.permute(0, 2, 4, 5, 1, 3).reshape(b, t, h, w, d)      # heads then channels
        values = qkv[:, :, :, :, 2].reshape(b, t, h, w, d)
        return -(self.gate(motion) * values).permute(0, 1, 4, 2, 3)


class QuickGELU(nn.Module):
    """x sigmoid(1.702 x) (official cstmformer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class AttentionBlock(nn.Module):
    """Official `ResidualAttentionBlock`: x + MHA(LN(x)), then + MLP(LN(x)) (D -> 4D -> D, QuickGELU);
    LayerNorm with eps 1e-12. Input in `nn.MultiheadAttention`'s sequence-first layout (L, N, D)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads)
        self.norm1 = nn.LayerNorm(dim, eps=1e-12)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), QuickGELU(), nn.Linear(4 * dim, dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class LongTermTemporal(nn.Module):
    """Official `TemporalTransformer` (long-term temporal modelling), `layers` `AttentionBlock`s.

    attention: "official" = as the official code runs it: the tokens (B h w, T, D) are given to a
    sequence-first `nn.MultiheadAttention`, so each frame index t attends over all positions of all B videos
    of the batch (the support set, or the queries), and the output (B h w, T, D) is read back as
    (B, h, w, D, T) by a plain `view`, which mixes frames and channels; "frames" = what the paper describes:
    each position of each video attends over its T frames, the layout kept."""

    def __init__(self, dim: int, heads: int = 8, layers: int = 1,
                 attention: Literal["official", "frames"] = "official"):
        super().__init__()
        if attention not in ("official", "frames"):
            raise ValueError(f"long_term_attention must be 'official' or 'frames'; got {attention!r}")
        self.attention = attention
        self.blocks = nn.Sequential(*(AttentionBlock(dim, heads) for _ in range(layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D, h, w) -> (B, T, D, h, w)."""
        b, t, d, h, w = x.shape
        tokens = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, d)
        if self.attention == "official":
            out = self.blocks(tokens)                                   # sequence axis = B h w, batch = T
            return out.reshape(b, h, w, d, t).permute(0, 4, 3, 1, 2)    # the official view (B, h, w, D, T)
        out = self.blocks(tokens.transpose(0, 1)).transpose(0, 1)       # sequence axis = T
        return out.reshape(b, h, w, t, d).permute(0, 3, 4, 1, 2)


class SloshNetModel(FrameBackboneCore):
    """ResNet stages + spatial modulation + fusion cell + short/long-term temporal modules + TRX head.

    Args:
        backbone: torchvision ResNet name (resnet50 in the paper; resnet18 / resnet_tiny for CPU runs).
        backbone_weights: `imagenet`, a local weight file, or None (random init), as TRX.
        head: TRX cross-transformer settings (`TRXHeadConfig`); the official HMDB51 / Kinetics / UCF101 scripts
            use cardinalities [1] (single frames; Something-Something: [1, 2]) and P = 1152.
        motion_heads: heads of the short-term motion module (official `CMM`: 16).
        temporal_heads, temporal_layers: the long-term transformer's heads and blocks (official: 8, 1).
        long_term_attention: "official" or "frames" (`LongTermTemporal`).
        prune_threshold: the fusion cell skips an operation whose softmax weight is at most this (0.01).
        backbone_passes, backbone_input: as `TRXModel`.
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None,
                 head: TRXHeadConfig = TRXHeadConfig(cardinalities=(1,)), motion_heads: int = 16,
                 temporal_heads: int = 8, temporal_layers: int = 1,
                 long_term_attention: Literal["official", "frames"] = "official", prune_threshold: float = 0.01,
                 backbone_passes: Literal["joint", "separate"] = "joint",
                 backbone_input: Literal["imagenet", "unit"] = "imagenet"):
        super().__init__(backbone, backbone_weights, backbone_passes, backbone_input)
        self.seq_len, self.cardinalities = head.seq_len, list(head.cardinalities)
        d = self.feature_dim
        self.spatial_modulation = SpatialModulation(self.backbone.dims)
        self.fusion = FeatureFusionCell(len(self.backbone.dims), prune_threshold)
        # beta (official beta1): weights of the 4 cell nodes and the last stage, softmax-normalised; the official
        # init log(S p) with p = (0.1, 0.1, 0.1, 0.1, 0.6) and S = sum(exp(1e-3 N(0, 1))) ~ 5
        self.level_weights = nn.Parameter(torch.log(5 * torch.tensor([[0.1, 0.1, 0.1, 0.1, 0.6]])))
        # gamma (official gamma1): long-term / short-term mix, softmax-normalised, official init 0.5 / 0.5
        self.temporal_weights = nn.Parameter(torch.zeros(1, 2))
        self.short_term = ShortTermMotion(d, motion_heads)
        self.long_term = LongTermTemporal(d, temporal_heads, temporal_layers, long_term_attention)
        self.transformers = head.transformers(feature_dim=d)

    def build_backbone(self, name: str, weights: str | None) -> tuple[nn.Module, int, bool]:
        """The ResNet's four stage maps (`ResNetStages`)."""
        net = ResNetStages(name, weights)
        return net, net.dim, net.loaded

    def architecture_parameters(self) -> list[nn.Parameter]:
        """The fusion cell's alphas: the official code gives exactly these to its Adam "alpha" optimizer
        (beta and gamma are meant for it too, but `list(beta1)` yields row views, so they stay with SGD)."""
        return list(self.fusion.alphas)

    # ------------------------------------------------------------------ per video
    def fuse(self, stages: list[torch.Tensor]) -> torch.Tensor:
        """Stage maps [(N, D_i, h_i, w_i)] of N frames -> fused map (N, D, h, w): official model.py
        `context_features = sum_j beta_j node_j + beta_4 stage_4`."""
        levels = self.spatial_modulation(stages)
        nodes = self.fusion(levels)
        beta = self.level_weights[0].softmax(dim=-1)
        fused = 0
        for j, node in enumerate(nodes + [levels[-1]]):   # 5 terms, not videos
            fused = fused + node * beta[j]
        return fused

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> fused maps (B, T, D, h, w) (`embed_episode`, one backbone pass or two, comes
        with `FrameBackboneCore`; with BatchNorm in training each pass has its own batch statistics)."""
        b, t = frames.shape[:2]
        fused = self.fuse(self.backbone(self.backbone_frames(frames)))
        return fused.reshape(b, t, *fused.shape[1:])

    # ------------------------------------------------------------------ per episode
    def temporal(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, T, D, h, w) fused maps of one batch (support or queries) -> frame features (B, T, D):
        2 gamma_1 CMM(x) + 2 gamma_0 transformer(x), averaged over the map (official model.py)."""
        if maps.dim() != 5:
            raise ValueError("SloshNet expects fused maps (videos, frames, dim, h, w) from `embed`; "
                             f"got {tuple(maps.shape)}")
        if maps.shape[1] != self.seq_len:
            raise ValueError(f"SloshNet was built for {self.seq_len} frames per video (head.seq_len); "
                             f"got {maps.shape[1]}")
        gamma = self.temporal_weights[0].softmax(dim=-1)
        x = self.short_term(maps) * gamma[1] * 2 + self.long_term(maps) * gamma[0] * 2
        return x.mean(dim=(-2, -1))

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> torch.Tensor:
        """Fused maps: support (S, T, D, h, w), labels (S,) in [0, C), query (Q, T, D, h, w) -> logits (Q, C)."""
        support = sort_class_major(support, support_labels, way, "SloshNet")
        return average_over_cardinalities(self.transformers, self.temporal(support), self.temporal(query), way)

    def logits(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs

    def result_metadata(self) -> dict:
        return {**self.backbone_metadata(), "cardinalities": self.cardinalities}
