"""STA-MIL (Liu et al., ICASSP 2022) in pure torch: spatial-temporal criss-cross attention over the
N x C map of a video's clip features, then a bidirectional RNN (or FC) scoring every clip.

Shapes: B videos, T (= N) clips, V crops, C feature channels, D query/key channels.
The feature map of a video is `F (V, N, C)`: the clip features stacked row by row (paper Sec. 2.2),
whose "pixels" F(i, j) are scalars; the V crops of 10-crop I3D features are the map's input
channels (`crop_mode="channels"`), or are averaged first (`"mean"`), or each crop is its own map
(`"independent"`). See README.md for why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vadbench.models.components.precision import in_float32
from vadbench.models.sultani.torch_model import SultaniMILModel

CropMode = Literal["channels", "mean", "independent"]
Scorer = Literal["bd_rnn", "fc"]
RNNCell = Literal["rnn", "gru", "lstm"]


class CrissCrossAttention(nn.Module):
    """One criss-cross attention pass over maps `x (B, V, N, C)` (STA-MIL eqs. (1)-(3)).

    Query and key maps come from 1x1 convolutions V -> D. Position (i, j) attends to the N + C - 1
    positions of its row i and column j (itself once), with cosine similarity (eq. 1) normalised by
    a softmax over those positions (eq. 2), and adds the attention-weighted sum of the map to itself
    (eq. 3; the value is the map itself, as the paper writes it). Time and memory are
    O(N * C * (N + C)): the row and column energies are two einsums, no loop over positions.
    """

    def __init__(self, in_channels: int = 1, qk_channels: int = 10, eps: float = 1e-8):
        super().__init__()
        self.query = nn.Conv2d(in_channels, qk_channels, kernel_size=1)
        self.key = nn.Conv2d(in_channels, qk_channels, kernel_size=1)
        self.eps = eps

    def project(self, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """1x1 convolution V -> D of `x (B, V, N, C)`, returned channels-last `(B, N, C, D)` and
        L2-normalised over D, so that dot products are eq. (1)'s cosine similarities. (A matmul over
        the channels: the same numbers as `conv(x)`, without the convolution kernel's overhead.)"""
        weight = conv.weight[:, :, 0, 0]  # (D, V)
        return F.normalize(x.permute(0, 2, 3, 1) @ weight.T + conv.bias, dim=-1, eps=self.eps)

    def unnormalised_attention(self, x: torch.Tensor,
                               mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """exp of eq. (1)'s cosine energies on the criss-cross of every position of `x (B, V, N, C)`.

        Returns (row (B, N, C, C), col (B, C, N, N)): row[b, i, j, n] belongs to the key (i, n) of the
        query (i, j), col[b, j, i, m] to the key (m, j); col[b, j, i, i] = 0 (the query's own position
        is counted once, in the row part) and so is every key on a padded clip (`mask (B, N)` False).
        """
        q_rows, k_rows = self.project(x, self.query), self.project(x, self.key)  # (B, N, C, D): one row per (b, i)
        q_cols, k_cols = q_rows.transpose(1, 2), k_rows.transpose(1, 2)      # (B, C, N, D): one column per (b, j)
        n = x.shape[2]
        exp_row = (q_rows @ k_rows.transpose(-1, -2)).exp()  # eq. (1), m = i
        keep_col = ~torch.eye(n, dtype=torch.bool, device=x.device)
        if mask is not None:
            keep_col = keep_col & mask[:, None, None, :]
        exp_col = (q_cols @ k_cols.transpose(-1, -2)).exp() * keep_col  # eq. (1), n = j
        return exp_row, exp_col

    @staticmethod
    def normaliser(exp_row: torch.Tensor, exp_col: torch.Tensor) -> torch.Tensor:
        """eq. (2)'s softmax denominator of every query (B, N, C): the sum over its criss-cross.
        No max-subtraction is needed: cosine energies lie in [-1, 1]."""
        return exp_row.sum(-1) + exp_col.sum(-1).transpose(1, 2)

    def attention(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention maps M of eq. (2), laid out as `unnormalised_attention` (for inspection)."""
        exp_row, exp_col = self.unnormalised_attention(x, mask)
        denom = self.normaliser(exp_row, exp_col)
        return exp_row / denom[..., None], exp_col / denom.transpose(1, 2)[..., None]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        exp_row, exp_col = self.unnormalised_attention(x, mask)
        # eq. (3): sum over the criss-cross of M^{i,j} * F, plus the residual F(i, j). The softmax
        # denominator of eq. (2) is shared by a query's whole cross, so it divides the (small)
        # aggregated features instead of the (large) attention maps: the same numbers, less work.
        from_row = exp_row @ x.permute(0, 2, 3, 1)                  # (B, N, C, V): sum_n e(i,n) F(i,n)
        from_col = (exp_col @ x.permute(0, 3, 2, 1)).transpose(1, 2)  # (B, N, C, V): sum_m e(m,j) F(m,j)
        aggregated = (from_row + from_col) / self.normaliser(exp_row, exp_col)[..., None]
        return aggregated.permute(0, 3, 1, 2) + x


class SpatialTemporalAttention(nn.Module):
    """Recurrent criss-cross attention (STA): the same pass applied `recurrence` times (paper: 2), so
    that every pair of positions of the N x C map is connected (F -> F~ -> F^).

    `chunk_size > 0` processes that many videos at a time and, while training, recomputes their
    attention in the backward pass (activation checkpointing): exact, and the memory of the
    O(N C (N + C)) attention maps is held for one chunk instead of the whole batch.
    """

    def __init__(self, in_channels: int = 1, qk_channels: int = 10, recurrence: int = 2, chunk_size: int = 0):
        super().__init__()
        self.cca = CrissCrossAttention(in_channels, qk_channels)
        self.recurrence = recurrence
        self.chunk_size = chunk_size

    def recurrent_pass(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for _ in range(self.recurrence):
            x = self.cca(x, mask)
        return x

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.chunk_size <= 0 or x.shape[0] <= self.chunk_size:
            return self.recurrent_pass(x, mask)
        masks = [None] * -(-x.shape[0] // self.chunk_size) if mask is None else mask.split(self.chunk_size)
        recompute = self.training and torch.is_grad_enabled()
        chunks = []
        for xc, mc in zip(x.split(self.chunk_size), masks):  # a memory bound, not a loop over videos
            chunks.append(checkpoint(self.recurrent_pass, xc, mc, use_reentrant=False) if recompute
                          else self.recurrent_pass(xc, mc))
        return torch.cat(chunks)


class BidirectionalRNNScorer(nn.Module):
    """bd-RNN regression of the anomaly score of every clip: `x (B, T, C)` -> `(B, T)` in [0, 1].

    Paper: two hidden layers of 64 units, ReLU, sigmoid output. Default cell: an Elman RNN with ReLU
    (`nn.RNN(nonlinearity="relu")`, the reading closest to the paper); `gru` / `lstm` are options.
    Padded clips (mask False) are excluded with packed sequences, so the backward direction of a
    short video starts at its own last clip.
    """

    def __init__(self, input_dim: int, hidden: int = 64, num_layers: int = 2, cell: RNNCell = "rnn",
                 dropout: float = 0.0):
        super().__init__()
        kwargs = dict(input_size=input_dim, hidden_size=hidden, num_layers=num_layers, batch_first=True,
                      bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        if cell == "rnn":
            self.rnn = nn.RNN(nonlinearity="relu", **kwargs)
        elif cell == "gru":
            self.rnn = nn.GRU(**kwargs)
        elif cell == "lstm":
            self.rnn = nn.LSTM(**kwargs)
        else:
            raise ValueError(f"unknown bd-RNN cell {cell!r}; expected rnn, gru or lstm")
        self.head = nn.Linear(2 * hidden, 1)

    @in_float32  # a small recurrence over the clips, and the scores: float32 (docs/precision.md)
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None or bool(mask.all()):
            hidden, _ = self.rnn(x)
        else:
            lengths = mask.sum(1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            hidden, _ = self.rnn(packed)
            hidden, _ = nn.utils.rnn.pad_packed_sequence(hidden, batch_first=True, total_length=x.shape[1])
        return torch.sigmoid(self.head(hidden)).squeeze(-1)


@dataclass
class STAMILOutput:
    """boosted: (B, V', T, C) features after the STA (V' = 1 for crop_mode="mean", else V);
    scores: (B, T) clip anomaly scores in [0, 1], averaged over crops."""

    boosted: torch.Tensor
    scores: torch.Tensor


class STAMILModel(nn.Module):
    """Spatial-temporal attention + bd-RNN (or FC) MIL ranking model.

    Args:
        feature_dim: C (4096 for C3D fc6, 2048 for I3D).
        num_crops: V of the feature files (10 for 10-crop I3D, 1 for C3D); used by `crop_mode="channels"`.
        crop_mode: `channels` (crops = input channels of the map), `mean` or `independent`.
        qk_channels: D of the query and key maps (paper: 10).
        recurrence: criss-cross passes (paper: 2). `use_sta=False` feeds the features straight to the scorer.
        scorer: `bd_rnn` (paper) or `fc` (Table 2 ablation: the FC network of Sultani et al.).
        rnn_hidden, rnn_layers, rnn_cell, rnn_dropout: the bd-RNN (paper: 64, 2, ReLU; dropout not stated: 0).
        fc_hidden, fc_dropout: the FC scorer (Sultani et al.: 512, 32; dropout 0.6).
        chunk_size: videos per STA chunk with activation checkpointing (0 = whole batch at once).
    """

    def __init__(self, feature_dim: int = 2048, num_crops: int = 10, crop_mode: CropMode = "channels",
                 qk_channels: int = 10, recurrence: int = 2, use_sta: bool = True, scorer: Scorer = "bd_rnn",
                 rnn_hidden: int = 64, rnn_layers: int = 2, rnn_cell: RNNCell = "rnn", rnn_dropout: float = 0.0,
                 fc_hidden: tuple[int, ...] = (512, 32), fc_dropout: float = 0.6, chunk_size: int = 0):
        super().__init__()
        if crop_mode not in ("channels", "mean", "independent"):
            raise ValueError(f"unknown crop_mode {crop_mode!r}; expected channels, mean or independent")
        self.feature_dim, self.num_crops, self.crop_mode = feature_dim, num_crops, crop_mode
        in_channels = num_crops if crop_mode == "channels" else 1
        self.sta = SpatialTemporalAttention(in_channels, qk_channels, recurrence, chunk_size) if use_sta else None
        self.scorer_kind = scorer
        if scorer == "bd_rnn":
            self.scorer = BidirectionalRNNScorer(feature_dim, rnn_hidden, rnn_layers, rnn_cell, rnn_dropout)
        elif scorer == "fc":
            self.scorer = SultaniMILModel(feature_dim, tuple(fc_hidden), fc_dropout)
        else:
            raise ValueError(f"unknown scorer {scorer!r}; expected bd_rnn or fc")

    def feature_map(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, T, V, C) -> maps (B', V', T, C) as chosen by `crop_mode`."""
        b, t, v, c = features.shape
        if c != self.feature_dim:
            raise ValueError(f"STA-MIL: features have dim {c} but the model was built for "
                             f"feature_dim={self.feature_dim}")
        if self.crop_mode == "channels":
            if v != self.num_crops:
                raise ValueError(f"STA-MIL crop_mode='channels': features have {v} crops but the model was built "
                                 f"for num_crops={self.num_crops}; set model num_crops={v} or crop_mode='mean'")
            return features.permute(0, 2, 1, 3)
        if self.crop_mode == "mean":
            return features.mean(2)[:, None]
        return features.permute(0, 2, 1, 3).reshape(b * v, 1, t, c)  # independent: one map per crop

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> STAMILOutput:
        """features (B, T, V, C), mask (B, T) -> STAMILOutput."""
        b, t, v, c = features.shape
        maps = self.feature_map(features)
        views = maps.shape[0] // b * maps.shape[1]  # maps per video: V (channels, independent) or 1 (mean)
        map_mask = None if mask is None else mask.repeat_interleave(maps.shape[0] // b, dim=0)
        if self.sta is not None:
            maps = self.sta(maps, map_mask)
        boosted = maps.reshape(b, views, t, c)  # (B, V', T, C)
        if self.scorer_kind == "fc":
            scores = self.scorer(boosted.transpose(1, 2))  # Sultani's MLP averages over crops
        else:
            seq_mask = None if mask is None else mask.repeat_interleave(views, dim=0)
            scores = self.scorer(boosted.reshape(b * views, t, c), seq_mask).reshape(b, views, t).mean(1)
        return STAMILOutput(boosted=boosted, scores=scores)


# ---------------------------------------------------------------------------- test-time segmentation
def segment_membership(lengths: torch.Tensor, num_segments: int, max_len: int) -> torch.Tensor:
    """Which snippets make each segment, as the official 32-segment rule (Sultani et al.; RTFM's
    `process_feat`): boundaries r_s = floor(s * L / S); segment s = snippets [r_s, r_{s+1}), or snippet
    r_s alone when that range is empty (L < S). Returns (B, S, T_max) bool, for videos of `lengths (B,)`.
    """
    s = torch.arange(num_segments + 1, device=lengths.device)
    bounds = torch.div(s[None, :] * lengths[:, None], num_segments, rounding_mode="floor")  # (B, S+1)
    start, end = bounds[:, :-1], bounds[:, 1:]
    t = torch.arange(max_len, device=lengths.device)[None, None, :]
    inside = (t >= start[..., None]) & (t < end[..., None])
    single = (end == start)[..., None] & (t == torch.minimum(start, lengths[:, None] - 1)[..., None])
    return inside | single


def pool_segments(features: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """features (B, T, V, C), membership (B, S, T) -> (B, S, V, C) segment means."""
    weights = membership.to(features.dtype)
    weights = weights / weights.sum(-1, keepdim=True)
    return torch.einsum("bst,btvc->bsvc", weights, features)


def spread_segment_scores(segment_scores: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """segment_scores (B, S) -> (B, T) snippet scores: the mean score of the segments holding each snippet
    (one segment when L >= S; padded snippets get 0)."""
    weights = membership.to(segment_scores.dtype)
    counts = weights.sum(1)
    return torch.einsum("bs,bst->bt", segment_scores, weights) / counts.clamp(min=1)
