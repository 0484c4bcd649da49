"""UR-DMU (Zhou, Yu, Yang, AAAI 2023) in pure torch: GL-MHSA encoder, dual memory units, normal-data
uncertainty learning, snippet classifier.

Shapes: B videos, T snippets, C crops, D feature dims, E = embed_dim (512), K memory slots.
Crops are separate sequences (N = B*C, video-major) and their scores are averaged, as the official
4-D input path does; the official training feeds one crop file per video (C = 1, see
`components.crops`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vadbench.models.components.crops import crops_as_sequences
from vadbench.models.components.precision import float32_call
from vadbench.models.components.gl_transformer import (GlobalLocalTransformer, LocalNormalisation,
                                                      TemporalConvEmbedding, official_encoder_key_map)


class MemoryUnit(nn.Module):
    """A memory of K slots (K, E) read by every snippet (UR-DMU "DMU", official `Memory_Unit`).

    attention = sigmoid(x M^T / sqrt(E)) (N, T, K); the snippet's memory score is the mean of its
    K // topk_divisor + 1 largest attentions; the read-out ("augmented feature") is attention @ M.
    """

    def __init__(self, slots: int = 60, dim: int = 512, topk_divisor: int = 16):
        super().__init__()
        self.slots, self.dim, self.topk = slots, dim, slots // topk_divisor + 1
        self.memory_block = nn.Parameter(torch.empty(slots, dim))
        nn.init.uniform_(self.memory_block, -1 / math.sqrt(dim), 1 / math.sqrt(dim))    # official reset_parameters

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, T, E) -> memory score (N, T), read-out (N, T, E)."""
        attention = torch.sigmoid(x @ self.memory_block.t() / self.dim ** 0.5)
        return attention.topk(self.topk, dim=-1).values.mean(-1), attention @ self.memory_block


def topk_mean_feature(x: torch.Tensor, scores: torch.Tensor, k: int, crops: int) -> torch.Tensor:
    """x (N, T, E), scores (N, T) -> (N / crops, E): the mean feature of each sequence's k top-scored
    snippets, averaged over the crops of a video (official `gather(...).mean(1).reshape(b, n, -1).mean(1)`)."""
    idx = scores.topk(k, dim=-1).indices
    picked = x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1])).mean(1)
    return picked.view(-1, crops, x.shape[-1]).mean(1)


@dataclass
class URDMUTrainOutput:
    """What one training forward returns for `URDMULoss` (B normal videos, then B anomalous).

    scores (2B, T); the memory scores (B, T), crop-averaged: `abnormal_on_abnormal` (A-memory read by
    the anomalous videos), `normal_on_abnormal`, `abnormal_on_normal`, `normal_on_normal`; the triplet's
    `anchor`, `positive`, `negative` (B, E); the read-outs of the distance term `anchor_augmented`,
    `negative_augmented` (B, E); the normal read-outs' Gaussian `mu`, `logvar` (B*C, T, E); k, the
    snippets selected per video. A part a switched-off module would produce is None.
    """

    scores: torch.Tensor
    k: int
    abnormal_on_abnormal: torch.Tensor | None = None
    normal_on_abnormal: torch.Tensor | None = None
    abnormal_on_normal: torch.Tensor | None = None
    normal_on_normal: torch.Tensor | None = None
    anchor: torch.Tensor | None = None
    positive: torch.Tensor | None = None
    negative: torch.Tensor | None = None
    anchor_augmented: torch.Tensor | None = None
    negative_augmented: torch.Tensor | None = None
    mu: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


class URDMUModel(nn.Module):
    """Conv embedding + GL-MHSA Transformer, abnormal and normal memory units, mean/variance encoders,
    classifier on [feature | memory read-outs] (2E -> hidden -> 1, sigmoid).

    Args:
        feature_dim: D (1024 for Wu et al.'s I3D files).
        embed_dim, depth, heads, dim_head, mlp_dim, dropout: the encoder (official 512, 2, 4, 128, 512, 0.5).
        abnormal_slots, normal_slots: memory sizes (official 60 and 60).
        classifier_hidden: the classifier's hidden width (128).
        topk_divisor: k = T // topk_divisor + 1 snippets per video (training selections) and
            K // topk_divisor + 1 slots per snippet (memory scores); official 16.
        global_attention, local_attention, local_normalisation: GL-MHSA switches (components.gl_transformer).
        abnormal_memory, normal_memory: build the A-memory / N-memory (paper ablation; without either
            the triplet term has no negative / anchor and is skipped, as the loss terms that read it).
        uncertainty: normal-data uncertainty learning (NUL): training reads the normal videos' N-memory
            through a sampled mu + eps * sigma and adds the KL term; off = mu only, no KL.
    """

    def __init__(self, feature_dim: int = 1024, embed_dim: int = 512, depth: int = 2, heads: int = 4,
                 dim_head: int = 128, mlp_dim: int = 512, dropout: float = 0.5, abnormal_slots: int = 60,
                 normal_slots: int = 60, classifier_hidden: int = 128, topk_divisor: int = 16,
                 global_attention: bool = True, local_attention: bool = True,
                 local_normalisation: LocalNormalisation = "columns", abnormal_memory: bool = True,
                 normal_memory: bool = True, uncertainty: bool = True):
        super().__init__()
        self.feature_dim, self.topk_divisor, self.uncertainty = feature_dim, topk_divisor, uncertainty
        self.embedding = TemporalConvEmbedding(feature_dim, embed_dim)
        self.transformer = GlobalLocalTransformer(embed_dim, depth, heads, dim_head, mlp_dim, dropout,
                                                  global_attention, local_attention, local_normalisation)
        self.abnormal_memory = MemoryUnit(abnormal_slots, embed_dim, topk_divisor) if abnormal_memory else None
        self.normal_memory = MemoryUnit(normal_slots, embed_dim, topk_divisor) if normal_memory else None
        self.encoder_mu = nn.Linear(embed_dim, embed_dim)
        self.encoder_var = nn.Linear(embed_dim, embed_dim) if uncertainty and normal_memory else None
        width = embed_dim * (2 if abnormal_memory or normal_memory else 1)
        self.classifier = nn.Sequential(nn.Linear(width, classifier_hidden), nn.ReLU(),
                                        nn.Linear(classifier_hidden, 1), nn.Sigmoid())

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, T, D) -> (N, T, E): conv embedding, then the GL-MHSA Transformer."""
        return self.transformer(self.embedding(x, mask), mask)

    def classify(self, x: torch.Tensor, read_out: torch.Tensor | None) -> torch.Tensor:
        """(N, T, E), memory read-out (N, T, E) or None -> (N, T) scores (last layer and sigmoid in float32:
        bf16 scores tie and saturate, docs/precision.md)."""
        hidden = self.classifier[:-2](x if read_out is None else torch.cat([x, read_out], dim=-1))
        return float32_call(self.classifier[-2:], hidden).squeeze(-1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None,
                patches: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Evaluation: features (B, T, C, D), mask (B, T) -> scores (B, T), averaged over crops.
        Each read-out goes through the mean encoder: mu(A-read) + mu(N-read) (official test path)."""
        b, t, c, _ = features.shape
        seqs, seq_mask = crops_as_sequences(features, mask)
        x = self.encode(seqs, seq_mask)
        read_out = None
        for memory in (self.abnormal_memory, self.normal_memory):
            if memory is not None:
                part = self.encoder_mu(memory(x)[1])
                read_out = part if read_out is None else read_out + part
        return self.classify(x, read_out).view(b, c, t).mean(1)

    def training_forward(self, features: torch.Tensor, noise: torch.Tensor | None = None) -> URDMUTrainOutput:
        """features (2B, T, C, D): B normal videos then B anomalous (no padding: training videos are
        reduced to a fixed number of segments). `noise` (B*C, T, E): the reparameterisation's eps
        (default: standard normal draws)."""
        b2, t, c, _ = features.shape
        nb = b2 // 2 * c                                        # normal sequences
        x = self.encode(crops_as_sequences(features, None)[0])
        normal_x, abnormal_x = x[:nb], x[nb:]
        k = t // self.topk_divisor + 1
        crop_mean = (lambda s: s.view(-1, c, t).mean(1))
        out = URDMUTrainOutput(scores=x.new_empty(0), k=k)
        read_normal, read_abnormal = None, None                 # what the classifier reads, per half
        if self.abnormal_memory is not None:
            a_att, a_read = self.abnormal_memory(abnormal_x)     # A-memory, anomalous videos
            an_att, an_read = self.abnormal_memory(normal_x)     # A-memory, normal videos
            out.abnormal_on_abnormal, out.abnormal_on_normal = crop_mean(a_att), crop_mean(an_att)
            out.negative = topk_mean_feature(abnormal_x, a_att, k, c)
            a_read = self.encoder_mu(a_read)
            out.negative_augmented = topk_mean_feature(a_read, a_att, k, c)
            read_normal, read_abnormal = self.encoder_mu(an_read), a_read
        if self.normal_memory is not None:
            na_att, na_read = self.normal_memory(abnormal_x)     # N-memory, anomalous videos
            n_att, n_read = self.normal_memory(normal_x)         # N-memory, normal videos
            out.normal_on_abnormal, out.normal_on_normal = crop_mean(na_att), crop_mean(n_att)
            out.anchor = topk_mean_feature(normal_x, n_att, k, c)
            out.positive = topk_mean_feature(abnormal_x, na_att, k, c)
            mu = self.encoder_mu(n_read)
            if self.encoder_var is not None:                     # NUL: mu + eps * sqrt(exp(logvar))
                out.mu, out.logvar = mu, self.encoder_var(n_read)
                eps = torch.randn_like(mu) if noise is None else noise.to(mu)
                mu = mu + eps * out.logvar.exp().sqrt()
            out.anchor_augmented = topk_mean_feature(mu, n_att, k, c)
            na_read = self.encoder_mu(na_read)
            read_normal = mu if read_normal is None else mu + read_normal
            read_abnormal = na_read if read_abnormal is None else read_abnormal + na_read
        read_out = None if read_normal is None else torch.cat([read_normal, read_abnormal], dim=0)
        out.scores = crop_mean(self.classify(x, read_out))
        return out


def official_key_map(depth: int = 2) -> dict[str, str]:
    """Official `WSAD` (UR-DMU model.py) module names -> `URDMUModel`'s."""
    return {**official_encoder_key_map(depth),
            "Amemory": "abnormal_memory", "Nmemory": "normal_memory",
            "encoder_mu.0": "encoder_mu", "encoder_var.0": "encoder_var",
            "cls_head.mlp.0": "classifier.0", "cls_head.mlp.2": "classifier.2"}
