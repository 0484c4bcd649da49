"""Projected frame tuples, the embedding of STRM's query-class head (QC) and BiMACL's CTRX head.

Every ordered c-combination of a video's T frames (TRX's tuples) is concatenated, dropped out and projected:
ReLU(W [x_t1, ..., x_tc] + b). The embedding depends on one video only, so it is cached at test time; the
heads differ in how they compare the tuples of a query with a class's.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn


class TupleEmbedding(nn.Module):
    """(B, T, D) frame features -> (B, N, P) tuple embeddings, N = C(T, c) tuples of cardinality c."""

    def __init__(self, dim: int, seq_len: int, cardinality: int, proj_dim: int, dropout: float = 0.1):
        super().__init__()
        tuples = torch.tensor(list(itertools.combinations(range(seq_len), cardinality)), dtype=torch.long)
        self.register_buffer("tuples", tuples, persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(dim * cardinality, proj_dim)

    @property
    def num_tuples(self) -> int:
        return self.tuples.shape[0]

    @property
    def embed_dim(self) -> int:
        return self.project.out_features

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> tuple embeddings (B, N, P): per video, episode-independent (cached at test time)."""
        x = self.dropout(frames)[:, self.tuples].reshape(frames.shape[0], self.num_tuples, -1)
        return F.relu(self.project(x))
