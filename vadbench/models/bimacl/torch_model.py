"""BiMACL (Guo et al., "BiMACL: Bi-directional Motion Attention with Contrastive Learning for Few-Shot Action
Recognition", ICASSP 2024) in pure torch: a bi-directional motion attention (TDSAM, official `mSEModule`) on
the ResNet feature maps, TRX's cross-transformers on the pooled frame features, and a tuple-distance head
(official `DistanceLoss`, "CTRX") whose farthest-tuple distance enters the prediction and whose contrastive
ratio enters the loss.

Shapes: S support videos (C classes x K shots, class-major after sorting), Q query videos, T frames, D feature
dim, h x w the feature map (7 x 7 for ResNet-50 at 224 px), P projection dim (1152, TRX's and the CTRX
embedding's), N tuples of a cardinality (28 pairs / 56 triples for T = 8).

Per video: ResNet feature maps (T, D, h, w) -> TDSAM (forward and backward motion attention over the h w
positions, applied to a temporal convolution of the maps; gated residual) -> mean over h, w (T, D) -> TRX
tuple keys / values, and CTRX tuple embeddings ReLU(W [x_t1, ..., x_tc]).
Per episode: TRX logits; CTRX: for each query tuple the Euclidean distance to the farthest tuple of a class
(its mean over the query's tuples is `max_distance`), and a contrastive distance to "unrelated" tuples of the
other classes; contrast logit = max / (contrast + max). The official code (YWCandGHY/BiMACL 0e2760b, model.py /
run_model.py) is the reference: tests/golden/test_bimacl_golden.py proves this module equal to it.
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
from vadbench.models.trx.torch_model import TRXHeadConfig, attend_projected, average_over_cardinalities, \
    project_tuples, sort_class_major


@in_float32  # attention logits and their softmax: docs/precision.md
def scaled_self_attention(tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, M, E) -> softmax over the second position of tokens . tokens / sqrt(temperature): (B, M, M)."""
    return (torch.bmm(tokens, tokens.transpose(1, 2)) / temperature ** 0.5).softmax(dim=-1)


class MotionAttention(nn.Module):
    """BiMACL's bi-directional motion attention (TDSAM; official `mSEModule`), on the feature maps of a video set.

    z = BN(conv1x1(x)) (D -> D/2); forward motion m_f[t] = conv3x3_dw(z)[t+1] - z[t] (zero at the last frame),
    backward motion m_b[t] = conv3x3_dw(z)[t-1] - z[t] (zero at the first frame); each motion map is refined at
    two scales, y = W_o (m / 3 + up(BN(conv3x3(avgpool2(m)))) / 3 + BN(conv3x3(m)) / 3) (D/2 channels), and gives
    a self-attention over the h w positions A = softmax(y y^T / sqrt(D/2)). The values are a depthwise
    temporal convolution (kernel 3) of x; out = x + gamma (A_f v + A_b v) / 2, gamma a learnt scalar (0 at init).

    In training the BatchNorms use the statistics of the videos given in one call (the official code calls it
    on the support set, then on the queries), and each direction's refinement its own batch.
    """

    def __init__(self, dim: int, seq_len: int = 8, reduction: int = 2, dropout: float = 0.1):
        super().__init__()
        if dim % reduction:
            raise ValueError(f"MotionAttention: the feature dim {dim} is not divisible by the reduction {reduction}")
        self.dim, self.seq_len = dim, seq_len
        hidden = dim // reduction
        self.temperature = float(hidden)   # official: sqrt(channel // reduction)
        self.value_conv = nn.Conv3d(dim, dim, kernel_size=(3, 1, 1), padding=(1, 0, 0), groups=dim, bias=False)
        self.reduce = nn.Conv2d(dim, hidden, kernel_size=1, bias=False)
        self.reduce_norm = nn.BatchNorm2d(hidden)
        self.shift_conv = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1, groups=hidden, bias=False)
        self.coarse_conv = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1, bias=False)   # on the 2x2-pooled map
        self.coarse_norm = nn.BatchNorm2d(hidden)
        self.fine_conv = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1, bias=False)     # at full resolution
        self.fine_norm = nn.BatchNorm2d(hidden)
        self.mix = nn.Conv2d(hidden, hidden, kernel_size=1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.gamma = nn.Parameter(torch.zeros(1))
        for m in self.modules():   # official init: He-normal over k*k*out for the 2-D convolutions
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, (2.0 / n) ** 0.5)

    def refine(self, motion: torch.Tensor) -> torch.Tensor:
        """(B T, D/2, h, w) motion map -> (B T, h w, D/2) attention tokens (multi-scale, then the 1x1 mix)."""
        coarse = self.coarse_norm(self.coarse_conv(F.avg_pool2d(motion, kernel_size=2, stride=2)))
        fine = self.fine_norm(self.fine_conv(motion))
        coarse = F.interpolate(coarse, size=motion.shape[-2:])   # nearest, as the official code
        y = self.mix(1.0 / 3.0 * motion + 1.0 / 3.0 * coarse + 1.0 / 3.0 * fine)
        return y.flatten(2).transpose(1, 2)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, T, D, h, w) feature maps of B videos -> enhanced maps (B, T, D, h, w)."""
        b, t, d, h, w = maps.shape
        if t != self.seq_len:
            raise ValueError(f"BiMACL was built for {self.seq_len} frames per video (head.seq_len); got {t}")
        if h < 2 or w < 2:
            raise ValueError(f"BiMACL's motion attention pools the feature map 2x2; it needs a map of at least 2x2, "
                             f"got {h}x{w} (a larger crop or a backbone with less downsampling)")
        x = maps.reshape(b * t, d, h, w)
        z = self.reduce_norm(self.reduce(x))                                     # (B T, D/2, h, w)
        shifted = self.shift_conv(z).reshape(b, t, -1, h, w)
        z = z.reshape(b, t, -1, h, w)
        # BiMACL TDSAM: forward (t+1 vs t) and backward (t-1 vs t) feature differences, zero-padded in time
        forward_motion = F.pad(shifted[:, 1:] - z[:, :-1], (0, 0, 0, 0, 0, 0, 0, 1)).flatten(0, 1)
        backward_motion = F.pad(shifted[:, :-1] - z[:, 1:], (0, 0, 0, 0, 0, 0, 1, 0)).flatten(0, 1)
        values = self.value_conv(maps.transpose(1, 2)).transpose(1, 2).reshape(b * t, d, h * w).transpose(1, 2)
        attended = 0
        for motion in (forward_motion, backward_motion):   # the two directions (separate BatchNorm batches)
            attn = self.dropout(scaled_self_attention(self.refine(motion), self.temperature).to(values.dtype))
            attended = attended + 0.5 * torch.bmm(attn, values)                # (B T, h w, D)
        out = x + attended.transpose(1, 2).reshape(b * t, d, h, w) * self.gamma
        return out.reshape(b, t, d, h, w)


class TupleContrast(TupleEmbedding):
    """BiMACL's CTRX head for one cardinality c (official `DistanceLoss`).

    Tuples of the frame features (all c-combinations, as TRX) -> dropout -> Linear(c D -> P) -> ReLU. For each
    query tuple and class: the Euclidean distance to the farthest tuple of any shot of the class; `max_distance`
    (Q, C) is its mean over the query's tuples. The contrastive distance of class c: the support tuple of c
    farthest from each query tuple is compared with every tuple of the other classes; a tuple of another class
    counts as "unrelated" when fewer of these farthest tuples exceed a typical distance to it than the mean count
    over that class's tuples (counted nonzero); the contrastive distance is the mean distance from the query's
    tuples to all unrelated tuples, divided by C - 1. contrast logit = max / (contrast + max).
    """

    def __init__(self, dim: int, seq_len: int = 8, cardinality: int = 2, proj_dim: int = 1152, dropout: float = 0.1):
        super().__init__(dim, seq_len, cardinality, proj_dim, dropout)

    def distances(self, support: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        """Euclidean distances (Q N, C, K N) from every query tuple to every tuple of each class (shot-major)."""
        q_n, n, p = query.shape
        return torch.cdist(query.reshape(q_n * n, p), support.reshape(-1, p)).reshape(q_n * n, way, -1)

    @in_float32  # distances and their maximum: docs/precision.md
    def max_distance(self, support: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        """(Q, C): mean over the query's tuples of the distance to the farthest tuple of the class
        (official `logits_max`). support (S, N, P) class-major (S = C K), query (Q, N, P)."""
        q_n, n = query.shape[:2]
        return self.distances(support, query, way).amax(dim=-1).reshape(q_n, n, way).mean(dim=1)

    @in_float32  # distances, their ratio: docs/precision.md
    def forward(self, support: torch.Tensor, query: torch.Tensor, way: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tuple embeddings: support (S, N, P) class-major, query (Q, N, P) -> (max_distance (Q, C),
        contrast logits (Q, C))."""
        if way < 2:
            raise ValueError(f"BiMACL's contrast compares a class with the other classes: it needs way >= 2, got {way}")
        q_n, n, p = query.shape
        shots = support.shape[0] // way
        dist = self.distances(support, query, way)                           # (Q N, C, K N)
        maximum = dist.amax(dim=-1).reshape(q_n, n, way).mean(dim=1)         # (Q, C)
        with torch.no_grad():   # the official selection goes through numpy: no gradient
            farthest = dist.argmax(dim=-1)                                   # (Q N, C): in the class's K N tuples
            # official `ave_dist`: the class's K N distances viewed as (N, K), max over the first axis, mean
            typical = dist.reshape(q_n * n, way, n, shots).amax(dim=2).mean(dim=2)   # (Q N, C)
            flat = support.reshape(way, shots * n, p)
            far = flat[torch.arange(way, device=flat.device)[:, None], farthest.T]  # (C, Q N, P)
            far_to_all = torch.cdist(far, support.reshape(1, -1, p).expand(way, -1, -1))   # (C, Q N, C K N)
            exceed = (far_to_all > typical.T[:, :, None]).sum(dim=1).reshape(way, way, shots * n)   # (C, C', K N)
            exceed = exceed.to(dist.dtype)
            mean_count = exceed.sum(dim=-1, keepdim=True) / (exceed > 0).sum(dim=-1, keepdim=True)
            unrelated = (exceed < mean_count) & ~torch.eye(way, dtype=torch.bool, device=dist.device)[:, :, None]
            weights = unrelated.to(dist.dtype)
            # mean over all unrelated tuples; a class without any gets contrast 0 (official: a NaN loss, and
            # its training loop then skips the task; README "Divergences")
            weights = weights / weights.sum(dim=(1, 2), keepdim=True).clamp(min=1)
        contrast = torch.einsum("icj,kcj->ik", dist, weights)               # (Q N, C)
        contrast = contrast.reshape(q_n, n, way).mean(dim=1) / (way - 1)
        return maximum, maximum / (contrast + maximum)


@dataclass
class BiMACLOutput:
    """What `BiMACLModel.forward` returns (Q, C) each: TRX logits, CTRX farthest-tuple distances (added to the
    prediction) and CTRX contrast logits (a loss term; None from the cached evaluation path)."""

    frame_logits: torch.Tensor
    max_distance: torch.Tensor
    contrast_logits: torch.Tensor | None = None


class BiMACLModel(FrameBackboneCore):
    """ResNet feature maps + motion attention (TDSAM) + mean pooling + TRX cross-transformers + CTRX.

    Args:
        backbone: torchvision ResNet name (resnet50 in the paper; resnet18 for CPU runs).
        backbone_weights: `imagenet`, a local weight file, or None (random init), as TRX.
        head: TRX cross-transformer settings (`TRXHeadConfig`; official cardinalities [2, 3], P = 1152). Its
            `seq_len` and `proj_dim` also serve the motion attention and the CTRX tuples.
        max_logit_weight: weight of the CTRX farthest-tuple distance added to the TRX logits for the
            prediction (0.05, official run_model.py).
        motion_dropout: dropout on the motion-attention weights (0.1).
        contrast_dropout: dropout on the frame features entering the CTRX tuples (0.1).
        train_contrast_projection: learn the CTRX projection. The official code keeps its `DistanceLoss` modules
            in a plain list, so the projection is never given to the optimizer and stays at its random init
            (false in recipe/bimacl_official.yaml); the default true is what a registered module would do.
        backbone_passes, backbone_input: as `TRXModel` (official: `separate`, `unit`).
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None,
                 head: TRXHeadConfig = TRXHeadConfig(), max_logit_weight: float = 0.05, motion_dropout: float = 0.1,
                 contrast_dropout: float = 0.1, train_contrast_projection: bool = True,
                 backbone_passes: Literal["joint", "separate"] = "joint",
                 backbone_input: Literal["imagenet", "unit"] = "imagenet"):
        super().__init__(backbone, backbone_weights, backbone_passes, backbone_input)
        self.max_logit_weight = max_logit_weight
        self.seq_len, self.cardinalities = head.seq_len, list(head.cardinalities)
        d = self.feature_dim
        self.motion = MotionAttention(d, head.seq_len, dropout=motion_dropout)
        self.transformers = head.transformers(feature_dim=d)
        self.contrast = nn.ModuleList(TupleContrast(d, head.seq_len, c, head.proj_dim, contrast_dropout)
                                      for c in head.cardinalities)
        self.contrast.requires_grad_(train_contrast_projection)

    def build_backbone(self, name: str, weights: str | None) -> tuple[nn.Module, int, bool]:
        """The ResNet without its pooling: the motion attention works on the last spatial feature map."""
        net = ResNetFeatureMap(name, weights)
        return net, net.dim, net.loaded

    # ------------------------------------------------------------------ per video
    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> feature maps (B, T, D, h, w) (`embed_episode`, one backbone pass or two, comes
        with `FrameBackboneCore`)."""
        b, t = frames.shape[:2]
        maps = self.backbone(self.backbone_frames(frames))
        return maps.reshape(b, t, *maps.shape[1:])

    def frame_features(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, T, D, h, w) -> motion attention, then the mean over the map: (B, T, D)."""
        if maps.dim() != 5:
            raise ValueError("BiMACL expects feature maps (videos, frames, dim, height, width) from `embed`; "
                             f"got {tuple(maps.shape)}")
        return self.motion(maps).mean(dim=(-2, -1))

    def project(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, T, D, h, w) -> (B, X): every per-video part of the head, flattened and concatenated: the CTRX tuple
        embeddings of each cardinality, then the TRX tuple keys and values of each cardinality. The evaluation
        cache stores this (the motion attention is per video in eval mode); `forward_projected` scores from it."""
        frames = self.frame_features(maps)
        parts = [ctrx.embed(frames).flatten(1) for ctrx in self.contrast]
        parts.append(project_tuples(self.transformers, frames).flatten(1))
        return torch.cat(parts, dim=1)

    # ------------------------------------------------------------------ per episode
    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> BiMACLOutput:
        """Feature maps: support (S, T, D, h, w), labels (S,) in [0, C), query (Q, T, D, h, w) -> `BiMACLOutput`.

        The motion attention runs on the support set, then on the queries (separate BatchNorm batches, as the
        official code)."""
        support = sort_class_major(support, support_labels, way, "BiMACL")
        s, q = self.frame_features(support), self.frame_features(query)
        frame_logits = average_over_cardinalities(self.transformers, s, q, way)
        maximum, contrast = zip(*(ctrx(ctrx.embed(s), ctrx.embed(q), way) for ctrx in self.contrast))
        # official: each output averaged over the cardinalities (mean of the stack)
        return BiMACLOutput(frame_logits=frame_logits, max_distance=torch.stack(maximum, dim=-1).mean(dim=-1),
                            contrast_logits=torch.stack(contrast, dim=-1).mean(dim=-1))

    def forward_projected(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                          way: int) -> BiMACLOutput:
        """The prediction's parts from `project` outputs: support (S, X), query (Q, X) (no contrast logits)."""
        support = sort_class_major(support, support_labels, way, "BiMACL")
        maximum, start = [], 0
        for ctrx in self.contrast:   # one per cardinality, not per video
            size = ctrx.num_tuples * ctrx.embed_dim
            s = support[:, start:start + size].reshape(support.shape[0], ctrx.num_tuples, -1)
            q = query[:, start:start + size].reshape(query.shape[0], ctrx.num_tuples, -1)
            maximum.append(ctrx.max_distance(s, q, way))
            start += size
        kv_shape = (-1, 2, self.transformers[0].proj_dim)   # the rest: `project_tuples` (N_total, 2, P)
        frame_logits = attend_projected(self.transformers, support[:, start:].reshape(support.shape[0], *kv_shape),
                                        query[:, start:].reshape(query.shape[0], *kv_shape), way)
        return BiMACLOutput(frame_logits=frame_logits, max_distance=torch.stack(maximum, dim=-1).mean(dim=-1))

    def logits(self, outputs: BiMACLOutput) -> torch.Tensor:
        """The prediction's logits (Q, C): TRX logits + max_logit_weight x farthest-tuple distance (official
        run_model.py, training accuracy and test; the distance enters with a plus sign)."""
        return outputs.frame_logits + self.max_logit_weight * outputs.max_distance

    def result_metadata(self) -> dict:
        return {**self.backbone_metadata(), "cardinalities": self.cardinalities}
