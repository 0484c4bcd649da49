"""OTAM (Cao et al., "Few-Shot Video Classification via Temporal Alignment", CVPR 2020) in pure torch:
a per-frame CNN, frame-to-frame cosine distances and the ordered temporal alignment (a soft-DTW whose
path may start and end anywhere in the other video, through zero columns padded on both sides).

OTAM has no official code. The reference is the re-implementation in tobyperrett/few-shot-action-recognition
(commit 3687f3a, `CNN_OTAM` and `OTAM_cum_dist` in model.py, `cos_sim` in utils.py); our head equals it
(tests/golden/test_otam_golden.py). Where the paper's equations differ, a switch of `OTAMHeadConfig` gives
them (README.md).

Shapes: S support videos (C classes x K shots), Q query videos, T frames, D feature dim; a distance
matrix (..., L, M): L rows (frames of the aligned video), M columns (frames of the other one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from vadbench.models.components.backbones import FrameBackboneCore
from vadbench.models.components.precision import in_float32
from vadbench.models.trx.torch_model import check_shots

VERTICAL_MOVES = ("reference", "paper")
DIRECTIONS = ("both", "query_to_support")


@dataclass(frozen=True)
class OTAMHeadConfig:
    """Settings of the OTAM head (it has no parameters).

    Args:
        smoothing: lambda of the soft minimum, -lambda log sum exp(-x / lambda) (reference: 0.1);
            0 = the hard minimum.
        cosine_eps: added to the product of the two frame norms in the cosine (reference `cos_sim`:
            0.01; the paper's cosine: 0).
        directions: "both" = the alignment of the query frames to the support frames plus that of
            the support frames to the query frames (reference); "query_to_support" = the first only (our
            reading of the paper; not checked against its text, which is not in ../shared/papers).
        vertical_moves: where a path may also come from the cell above, (l-1, m): "reference" = the
            first real column and the trailing zero column, as the reference code; "paper" = the two
            zero (padded) columns only, as we read the paper's recursion (not checked against its text;
            README.md).
    """

    smoothing: float = 0.1
    cosine_eps: float = 0.01
    directions: Literal["both", "query_to_support"] = "both"
    vertical_moves: Literal["reference", "paper"] = "reference"

    def __post_init__(self):
        if self.smoothing < 0:
            raise ValueError(f"OTAM head.smoothing must be >= 0 (0 = hard minimum); got {self.smoothing}")
        if self.cosine_eps < 0:
            raise ValueError(f"OTAM head.cosine_eps must be >= 0; got {self.cosine_eps}")
        if self.directions not in DIRECTIONS:
            raise ValueError(f"OTAM head.directions must be one of {DIRECTIONS}; got {self.directions!r}")
        if self.vertical_moves not in VERTICAL_MOVES:
            raise ValueError(f"OTAM head.vertical_moves must be one of {VERTICAL_MOVES}; got {self.vertical_moves!r}")


@in_float32  # cosines of long dot products: docs/precision.md
def frame_cosine_distance(query: torch.Tensor, support: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """OTAM frame distance D(l, m) = 1 - cos(q_l, s_m), every query frame against every support frame.

    The reference's cosine divides by |q_l| |s_m| + eps (eps = 0.01). query (Q, T, D), support (S, T', D)
    -> (Q, S, T, T')."""
    dots = torch.einsum("qld,smd->qslm", query, support)
    norms = query.norm(dim=-1)[:, None, :, None] * support.norm(dim=-1)[None, :, None, :]
    return 1 - dots / (norms + eps)


def soft_min(values: list[torch.Tensor], smoothing: float) -> torch.Tensor:
    """OTAM's continuous relaxation of the minimum: -lambda log sum_i exp(-x_i / lambda) over the
    candidate cells (as a logsumexp: the same number, without the reference's underflow of exp(-x / lambda)
    in float32 when every candidate is large); lambda = 0: the hard minimum."""
    stacked = torch.stack(values, dim=-1)
    if smoothing == 0:
        return stacked.amin(dim=-1)
    return -smoothing * torch.logsumexp(-stacked / smoothing, dim=-1)


@in_float32  # soft-DTW recursion: sums of exponentials of distances / lambda (docs/precision.md)
def otam_cumulative_distance(distances: torch.Tensor, smoothing: float = 0.1,
                             vertical_moves: Literal["reference", "paper"] = "reference") -> torch.Tensor:
    """The ordered temporal alignment of the rows' frames to the columns' frames: (..., L, M) -> (...).

    The columns get a zero column before the first and after the last frame (the path may start and
    end at any frame of the column video), so the padded matrix has M + 2 columns, indexed 0 .. M + 1.
    Cumulative distance G (OTAM's recursion), row 0: G(0, m) = sum of D(0, 0..m) (the one predecessor's
    soft minimum is itself); G(l, 0) = 0 (zero column); for l >= 1:
        G(l, m) = D(l, m) + softmin{G(l-1, m-1), G(l, m-1)}                      (middle columns)
        G(l, m) = D(l, m) + softmin{G(l-1, m-1), G(l-1, m), G(l, m-1)}           (vertical move allowed)
    with the vertical move in column 1 and column M + 1 ("reference": as the reference code) or in the
    zero columns only ("paper": column M + 1; column 0 is zero either way). Returns G(L - 1, M + 1).
    A loop over frames (rows and columns of one alignment), every video pair at once.
    """
    if vertical_moves not in VERTICAL_MOVES:
        raise ValueError(f"vertical_moves must be one of {VERTICAL_MOVES}; got {vertical_moves!r}")
    padded = F.pad(distances, (1, 1))               # (..., L, M + 2), zero first and last column
    rows, cols = padded.shape[-2], padded.shape[-1]
    previous = list(padded[..., 0, :].cumsum(dim=-1).unbind(dim=-1))   # row 0: running sum
    first_vertical = vertical_moves == "reference"
    for row in range(1, rows):
        d = padded[..., row, :]
        current = [torch.zeros_like(previous[0])]   # column 0: the zero column, never updated
        for col in range(1, cols):
            candidates = [previous[col - 1], current[col - 1]]          # diagonal, horizontal
            if col == cols - 1 or (col == 1 and first_vertical):
                candidates.insert(1, previous[col])                     # vertical
            current.append(d[..., col] + soft_min(candidates, smoothing))
        previous = current
    return previous[-1]


@in_float32  # distances and their class means: docs/precision.md
def otam_video_distance(query: torch.Tensor, support: torch.Tensor, head: OTAMHeadConfig) -> torch.Tensor:
    """OTAM distance of every query to every support video: query (Q, T, D), support (S, T, D) -> (Q, S).

    Reference: the query-to-support alignment plus the support-to-query one (`directions`)."""
    frame_distances = frame_cosine_distance(query, support, head.cosine_eps)      # (Q, S, T, T)
    distance = otam_cumulative_distance(frame_distances, head.smoothing, head.vertical_moves)
    if head.directions == "both":
        distance = distance + otam_cumulative_distance(frame_distances.transpose(-1, -2), head.smoothing,
                                                       head.vertical_moves)
    return distance


def class_mean_distance(distance: torch.Tensor, support_labels: torch.Tensor, way: int) -> torch.Tensor:
    """Distance to a class = the mean over its K shots (reference): (Q, S) -> (Q, C), column c = label c."""
    check_shots(support_labels, way, "OTAM")
    order = torch.argsort(support_labels, stable=True)   # class-major
    return distance[:, order].reshape(distance.shape[0], way, -1).mean(dim=-1)


class OTAMModel(FrameBackboneCore):
    """Backbone + OTAM head; `embed` frames once, `forward` classifies the queries of an episode.

    Args:
        backbone, backbone_weights, backbone_passes, backbone_input: the frame CNN
            (`components.backbones.FrameBackboneCore`, shared with TRX): ResNet-50 with ImageNet weights in
            the reference; two passes (support, then queries) on [0, 1] frames in the reference
            (recipe/otam_official.yaml).
        head: `OTAMHeadConfig` (smoothing lambda, cosine eps, directions, vertical moves). No parameters.
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None,
                 head: OTAMHeadConfig = OTAMHeadConfig(), backbone_passes: Literal["joint", "separate"] = "joint",
                 backbone_input: Literal["imagenet", "unit"] = "imagenet"):
        super().__init__(backbone, backbone_weights, backbone_passes, backbone_input)
        self.head = head

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> torch.Tensor:
        """Logits (Q, C) = -(mean OTAM distance to the class's shots), from frame features: support
        (S, T, D), labels (S,) in [0, C), query (Q, T, D)."""
        if support.dim() != 3 or query.dim() != 3 or support.shape[-1] != query.shape[-1]:
            raise ValueError(f"OTAM expects frame features support (S, T, D) and query (Q, T, D) with the same D; "
                             f"got {tuple(support.shape)} and {tuple(query.shape)}")
        if support_labels.shape != support.shape[:1]:
            raise ValueError(f"OTAM expects one label per support video: {support.shape[0]} videos, "
                             f"labels of shape {tuple(support_labels.shape)}")
        return -class_mean_distance(otam_video_distance(query, support, self.head), support_labels, way)

    def logits(self, outputs: torch.Tensor) -> torch.Tensor:
        """The logits used for accuracy (`forward` returns them)."""
        return outputs

    def result_metadata(self) -> dict:
        return {**self.backbone_metadata(), "otam_smoothing": self.head.smoothing,
                "otam_directions": self.head.directions, "otam_vertical_moves": self.head.vertical_moves}
