"""UR-DMU's temporal encoder, shared by UR-DMU and BN-WVAD (which reuses it unchanged): a Conv1d
embedding and a pre-norm Transformer whose attention has a global and a local branch (UR-DMU's
"GL-MHSA": Global and Local Multi-Head Self Attention).

Per head, the projections q, k, v, t of the snippets (one bias-free Linear, in that order):
- global branch: softmax(q k^T / sqrt(d_head)) v;
- local branch: G t with a fixed kernel G[i, j] = exp(-|i - j| / e) over snippet positions.
  The official code divides G by `G.sum(-1)` broadcast over the last axis, i.e. column j by the sum of
  row j (= column j: G is symmetric): `local_normalisation: columns` (official). `rows` makes every
  output a convex combination of its neighbours (G[i, j] / sum_k G[i, k]); the two differ near the
  ends of a video.
The two branches' outputs are concatenated per head ([global | local] of head 0, then head 1, ...)
and projected back to `dim`. Padded snippets (`mask` False) are left out of both branches, so a
padded batch gives each video the scores it gets alone (the official code tests one video at a time).

Shapes: (N, T, D): N sequences (videos x crops), T snippets.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

LocalNormalisation = Literal["columns", "rows"]


def _zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask[..., None].to(x.dtype)


class TemporalConvEmbedding(nn.Module):
    """Conv1d(D -> dim, kernel 3, padding 1) + ReLU over time (UR-DMU / BN-WVAD `Temporal`)."""

    def __init__(self, in_dim: int, out_dim: int = 512, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size, padding=kernel_size // 2)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, T, D) -> (N, T, out_dim); padded snippets are zero, as the official zero padding."""
        return self.act(self.conv(_zero_padding(x, mask).transpose(1, 2))).transpose(1, 2)


def local_kernel(length: int, mask: torch.Tensor | None, normalisation: LocalNormalisation,
                 like: torch.Tensor) -> torch.Tensor:
    """The local branch's (N or 1, T, T) attention: exp(-|i - j| / e), normalised (module docstring)."""
    pos = torch.arange(1, length + 1, dtype=like.dtype, device=like.device)
    kernel = torch.exp(-(pos[None, :] - pos[:, None]).abs() / math.e)[None]        # (1, T, T)
    if mask is not None:
        valid = mask.to(like.dtype)
        kernel = kernel * valid[:, None, :] * valid[:, :, None]
    if normalisation == "columns":   # official: column j divided by the sum of row j
        return kernel / kernel.sum(-1)[:, None, :].clamp_min(torch.finfo(like.dtype).tiny)
    if normalisation == "rows":
        return kernel / kernel.sum(-1, keepdim=True).clamp_min(torch.finfo(like.dtype).tiny)
    raise ValueError(f"local_normalisation must be 'columns' or 'rows'; got {normalisation!r}")


class GlobalLocalAttention(nn.Module):
    """GL-MHSA (module docstring). `use_global` / `use_local` switch a branch off (UR-DMU ablation):
    its projections and its half of the output projection are then not built."""

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 128, dropout: float = 0.0,
                 use_global: bool = True, use_local: bool = True, local_normalisation: LocalNormalisation = "columns"):
        super().__init__()
        if not (use_global or use_local):
            raise ValueError("GL-MHSA needs the global or the local branch (or both)")
        if local_normalisation not in ("columns", "rows"):
            raise ValueError(f"local_normalisation must be 'columns' or 'rows'; got {local_normalisation!r}")
        self.heads, self.dim_head = heads, dim_head
        self.use_global, self.use_local, self.local_normalisation = use_global, use_local, local_normalisation
        inner = heads * dim_head
        projections = 3 * use_global + use_local                                 # q, k, v and/or t
        self.to_qkvt = nn.Linear(dim, inner * projections, bias=False)
        self.to_out = nn.Linear(inner * (use_global + use_local), dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n, t, _ = x.shape
        parts = self.to_qkvt(x).view(n, t, -1, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)  # (P, N, H, T, d)
        outputs = []
        if self.use_global:
            q, k, v = parts[0], parts[1], parts[2]
            dots = q @ k.transpose(-1, -2) * self.dim_head ** -0.5
            if mask is not None:
                dots = dots.masked_fill(~mask[:, None, None, :], float("-inf"))
            outputs.append(dots.softmax(-1) @ v)
        if self.use_local:
            kernel = local_kernel(t, mask, self.local_normalisation, x)            # (N or 1, T, T)
            outputs.append(kernel[:, None] @ parts[-1])
        out = torch.cat(outputs, dim=-1).permute(0, 2, 1, 3).reshape(n, t, -1)  # per head [global | local]
        return self.dropout(self.to_out(out))


class TransformerLayer(nn.Module):
    """Pre-norm attention and feed-forward (Linear, GELU, dropout, Linear, dropout), both residual."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int, dropout: float, **attention_options):
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = GlobalLocalAttention(dim, heads, dim_head, dropout, **attention_options)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout),
                                          nn.Linear(mlp_dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention(self.attention_norm(x), mask) + x
        return self.feed_forward(self.feed_forward_norm(x)) + x


class GlobalLocalTransformer(nn.Module):
    """`depth` pre-norm layers of GL-MHSA + feed-forward (UR-DMU: dim 512, depth 2, 4 heads of 128,
    mlp 512; dropout 0.5 in UR-DMU, 0 in BN-WVAD)."""

    def __init__(self, dim: int = 512, depth: int = 2, heads: int = 4, dim_head: int = 128, mlp_dim: int = 512,
                 dropout: float = 0.0, use_global: bool = True, use_local: bool = True,
                 local_normalisation: LocalNormalisation = "columns"):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(dim, heads, dim_head, mlp_dim, dropout, use_global=use_global, use_local=use_local,
                             local_normalisation=local_normalisation) for _ in range(depth))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x


def official_encoder_key_map(depth: int = 2) -> dict[str, str]:
    """Official module names (UR-DMU / BN-WVAD `embedding`, `selfatt`) -> ours (`embedding`, `transformer`)."""
    m = {"embedding.conv_1.0": "embedding.conv"}
    for i in range(depth):
        m[f"selfatt.layers.{i}.0.norm"] = f"transformer.layers.{i}.attention_norm"
        m[f"selfatt.layers.{i}.0.fn.to_qkv"] = f"transformer.layers.{i}.attention.to_qkvt"
        m[f"selfatt.layers.{i}.0.fn.to_out.0"] = f"transformer.layers.{i}.attention.to_out"
        m[f"selfatt.layers.{i}.1.norm"] = f"transformer.layers.{i}.feed_forward_norm"
        m[f"selfatt.layers.{i}.1.fn.net.0"] = f"transformer.layers.{i}.feed_forward.0"
        m[f"selfatt.layers.{i}.1.fn.net.3"] = f"transformer.layers.{i}.feed_forward.3"
    return m
