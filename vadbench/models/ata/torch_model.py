"""ATA (Nguyen et al., "Inductive and Transductive Few-Shot Video Classification via Appearance and
Temporal Alignments", ECCV 2022) in pure torch: a per-frame CNN, a per-segment classifier over the
training classes (training), and few-shot testing by appearance and temporal alignment scores of the
query segments to per-segment class prototypes, with the prototypes refined on the support set
(inductive) or on the queries (transductive).

Official code: VinAIResearch/fsvc-ata a6b3143 (`ops/ata.py` the scores, `ops/models.py` the
per-segment classifier, `train.py` the loss, `inference.py` the few-shot test); our code equals it in
float64 (tests/golden/test_ata_golden.py).

Shapes: B videos, T segments (frames) per video, C feature dim, K classes (training classes, or the
C-way episode's classes at test), a similarity matrix (B, T, T', K): query segment i against segment
j of class k's prototype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.backbones import FrameBackboneCore
from vadbench.models.components.precision import in_float32
from vadbench.models.trx.torch_model import check_shots

OFFICIAL_PRIOR_WIDTH = math.sqrt(2 / 64)   # official ops/ata.py: / np.sqrt(2 / 64)


@dataclass(frozen=True)
class ATAHeadConfig:
    """Settings of the ATA head (official values: ops/ata.py, opts.py, inference.py).

    Args:
        seq_len: segments per video T (8; linked to `data.init_args.seq_len`): the classifier has
            num_classes * T outputs, one prototype segment per class and segment.
        dropout: on the features before the classifier, training only (official `--dropout 0.5`).
        sigma: standard deviation of the temporal prior (official 1.0).
        prior_width: the prior's offsets (i - j) / T are divided by it (official sqrt(2 / 64)).
        test_scale: scale of the appearance and temporal scores at test (official default 5.0).
        init_scale: initial similarity scale of the test-time prototypes (official 10.0; learnt by
            the inductive refinement).
        refine_steps: prototype refinement steps per episode (official `--iter 50`).
        refine_lr: Adam learning rate of the inductive refinement (official: Adam's default 1e-3).
        refine_conditional_entropy_weight, refine_entropy_weight: weights of the entropy terms in the
            inductive refinement objective (official 0.1 and 1; no temporal term).
        transductive: refine the prototypes on the queries (official `--transductive`) instead of on
            the support set; the official transductive test then scores by appearance only.
        eps: inside the logarithms (official 1e-12).
    """

    seq_len: int = 8
    dropout: float = 0.5
    sigma: float = 1.0
    prior_width: float = OFFICIAL_PRIOR_WIDTH
    test_scale: float = 5.0
    init_scale: float = 10.0
    refine_steps: int = 50
    refine_lr: float = 1e-3
    refine_conditional_entropy_weight: float = 0.1
    refine_entropy_weight: float = 1.0
    transductive: bool = False
    eps: float = 1e-12

    def __post_init__(self):
        if self.seq_len < 1:
            raise ValueError(f"ATA head.seq_len must be >= 1; got {self.seq_len}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"ATA head.dropout must be in [0, 1); got {self.dropout}")
        if self.sigma <= 0 or self.prior_width <= 0:
            raise ValueError(f"ATA head.sigma and head.prior_width must be > 0; got {self.sigma}, {self.prior_width}")
        if self.refine_steps < 0:
            raise ValueError(f"ATA head.refine_steps must be >= 0; got {self.refine_steps}")


def temporal_prior(num_segments: int, sigma: float = 1.0, width: float = OFFICIAL_PRIOR_WIDTH) -> torch.Tensor:
    """ATA's temporal order-preserving prior (T, T): a Gaussian of the normalised offset d = (i - j) / T / width,
    N(d; 0, sigma), each row normalised to sum 1 (official `ATA.__init__`; ATA eq. for the prior P)."""
    index = torch.arange(num_segments, dtype=torch.float64)
    offset = (index[:, None] - index[None, :]) / float(num_segments) / width
    prior = torch.exp(-offset ** 2 / 2.0 / sigma ** 2) / (sigma * math.sqrt(2 * math.pi))
    return prior / prior.sum(1, keepdim=True)   # float64; cast where used


def similarity_matrix(query: torch.Tensor, prototypes: torch.Tensor, scale: torch.Tensor | float,
                      bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Segment similarities D[b, i, j, k] = scale * <q_b,i, p_k,j> (+ bias[k, j]) and their softmax over j
    (the prototype segments): query (B, T, C), prototypes (K, T', C) -> two (B, T, T', K) (official
    `ATA.similarity_matrix`)."""
    similarity = torch.einsum("bic,kjc->bijk", query, prototypes) * scale
    if bias is not None:
        similarity = similarity + bias.transpose(0, 1)
    return similarity, similarity.softmax(dim=2)


def appearance_score(similarity: torch.Tensor, scale: float = 5.0) -> torch.Tensor:
    """ATA appearance score: scale * mean over query segments i of logsumexp over prototype segments j
    of D[b, i, j, k]: (B, T, T', K) -> (B, K)."""
    return torch.logsumexp(similarity, dim=2).mean(dim=1) * scale


def temporal_score(normalized: torch.Tensor, prior: torch.Tensor, scale: float = 5.0,
                   eps: float = 1e-12) -> torch.Tensor:
    """ATA temporal score: scale * (2 - KL(softmax_j D[b, i, :, k] || prior[i, :]) averaged over i), with the
    official eps inside the logarithm: (B, T, T', K), prior (T, T') -> (B, K)."""
    ratio = normalized / prior[None, :, :, None] + eps
    kl = (normalized * torch.log(ratio)).sum(dim=2).mean(dim=1)
    return (2 - kl) * scale


def entropy_terms(normalized: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """The two entropies of the ATA objective, per video and class (B, K): the conditional entropy
    mean_i H(softmax_j D[b, i, :, k]) and the entropy of the marginal H(mean_i softmax_j D[b, i, :, k])."""
    conditional = -(normalized * torch.log(normalized + eps)).sum(dim=2).mean(dim=1)
    marginal = normalized.mean(dim=1)
    return conditional, -(marginal * torch.log(marginal + eps)).sum(dim=1)


def ata_objective(similarity: torch.Tensor, normalized: torch.Tensor, labels: torch.Tensor, prior: torch.Tensor,
                  conditional_entropy_weight: float = 0.1, entropy_weight: float = 1.0, temporal_weight: float = 0.05,
                  eps: float = 1e-12) -> dict[str, torch.Tensor]:
    """The ATA training objective (official train.py), each term a mean over the B videos of its value at
    the video's class y:
        CE = -log(softmax_k(appearance(D, 1))[y] + eps)
        + w_ce * conditional entropy[y] - w_e * marginal entropy[y] - w_t * temporal(D, 1)[y].
    The inductive test-time refinement uses the same objective with w_t = 0. similarity/normalized
    (B, T, T', K), labels (B,) in [0, K) -> {"loss", "loss_ce", "conditional_entropy", "entropy", "temporal"}.
    """
    appearance = appearance_score(similarity, 1.0)
    onehot = F.one_hot(labels, appearance.shape[-1]).to(appearance.dtype)
    terms = {"loss_ce": -(onehot * torch.log(appearance.softmax(-1) + eps)).sum(1).mean(0)}
    conditional, marginal = entropy_terms(normalized, eps)
    terms["conditional_entropy"] = (onehot * conditional).sum(1).mean(0)
    terms["entropy"] = (onehot * marginal).sum(1).mean(0)
    loss = terms["loss_ce"] + conditional_entropy_weight * terms["conditional_entropy"] - entropy_weight * terms["entropy"]
    if temporal_weight:
        terms["temporal"] = (onehot * temporal_score(normalized, prior, 1.0, eps)).sum(1).mean(0)
        loss = loss - temporal_weight * terms["temporal"]
    terms["loss"] = loss
    return terms


@dataclass
class ATATrainOutput:
    """The training forward: segment similarities to the per-segment class prototypes of the classifier.

    similarity: (B, T, T, N_cls) the classifier's outputs D (official `new_fc` viewed (T, N_cls)).
    prior: (T, T) the temporal prior (for the loss's temporal term).
    """

    similarity: torch.Tensor
    prior: torch.Tensor

    @property
    def normalized(self) -> torch.Tensor:
        return self.similarity.softmax(dim=2)


class ATAModel(FrameBackboneCore):
    """Backbone + ATA head: `classify` (training over the training classes), `forward` (few-shot test).

    Args:
        backbone, backbone_weights, backbone_passes, backbone_input: the frame CNN
            (`components.backbones.FrameBackboneCore`): the official TSN uses torchvision's ImageNet
            ResNet-50 on ImageNet-normalised frames.
        num_classes: training classes N_cls (the classifier has N_cls * T outputs; official `new_fc`).
        head: `ATAHeadConfig`.
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights: str | None = None, num_classes: int = 64,
                 head: ATAHeadConfig = ATAHeadConfig(), backbone_passes: Literal["joint", "separate"] = "joint",
                 backbone_input: Literal["imagenet", "unit"] = "imagenet"):
        super().__init__(backbone, backbone_weights, backbone_passes, backbone_input)
        if num_classes < 1:
            raise ValueError(f"ATA num_classes (training classes) must be >= 1; got {num_classes}")
        self.head, self.num_classes = head, num_classes
        self.dropout = nn.Dropout(head.dropout)
        # official new_fc: output j * N_cls + k is segment j of class k's prototype; N(0, 0.001) weights, zero bias
        self.classifier = nn.Linear(self.feature_dim, num_classes * head.seq_len)
        nn.init.normal_(self.classifier.weight, 0.0, 0.001)
        nn.init.zeros_(self.classifier.bias)
        # float64 (exact), cast to the features' dtype where used
        self.register_buffer("prior", temporal_prior(head.seq_len, head.sigma, head.prior_width), persistent=False)

    def _check_segments(self, features: torch.Tensor, what: str) -> None:
        if features.dim() != 3 or features.shape[1] != self.head.seq_len:
            raise ValueError(f"ATA expects {what} features (B, T={self.head.seq_len}, D) (head.seq_len, linked to "
                             f"data.init_args.seq_len); got {tuple(features.shape)}")

    @in_float32  # the classifier's outputs feed softmaxes and logarithms (docs/precision.md)
    def classify(self, features: torch.Tensor) -> ATATrainOutput:
        """Training forward: frame features (B, T, D) -> similarities (B, T, T, N_cls) to the classifier's
        per-segment class prototypes (official TSN training forward, dropout before `new_fc`)."""
        self._check_segments(features, "training")
        b, t = features.shape[:2]
        out = self.classifier(self.dropout(features)).view(b, t, t, self.num_classes)
        return ATATrainOutput(out, self.prior.to(out.dtype))

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> torch.Tensor:
        """Few-shot test (official inference.py): logits (Q, C) from frame features support (S, T, D), labels (S,)
        in [0, C) (any order, the same number of shots per class) and query (Q, T, D). Inductive:
        softmax(appearance) + softmax(temporal); transductive: softmax(appearance)."""
        self._check_segments(support, "support")
        self._check_segments(query, "query")
        if support.shape[-1] != query.shape[-1]:
            raise ValueError(f"ATA expects support and query features with the same D; got {tuple(support.shape)} "
                             f"and {tuple(query.shape)}")
        if support_labels.shape != support.shape[:1]:
            raise ValueError(f"ATA expects one label per support video: {support.shape[0]} videos, labels of "
                             f"shape {tuple(support_labels.shape)}")
        check_shots(support_labels, way, "ATA")
        # the refinement optimises prototypes: with gradients, also under Lightning's inference mode
        with torch.inference_mode(False), torch.enable_grad():
            return few_shot_logits(support.detach().clone(), support_labels.clone(), query.detach().clone(), way,
                                   self.prior.clone(), self.head)

    def logits(self, outputs: torch.Tensor) -> torch.Tensor:
        """The logits used for accuracy (`forward` returns them)."""
        return outputs

    def result_metadata(self) -> dict:
        return {**self.backbone_metadata(), "ata_num_classes": self.num_classes,
                "ata_test": "transductive" if self.head.transductive else "inductive",
                "ata_refine_steps": self.head.refine_steps}


@in_float32  # softmaxes, logarithms and an inner optimisation (docs/precision.md)
def few_shot_logits(support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, way: int,
                    prior: torch.Tensor, head: ATAHeadConfig) -> torch.Tensor:
    """ATA's few-shot test of one episode (official `inductive` / `transductive`), see `ATAModel.forward`.

    Segment features are L2-normalised; class prototypes (C, T, D) start as the mean of the class's
    normalised support features. Inductive: the prototypes and the similarity scale (10) are refined by
    Adam (lr 1e-3, `refine_steps`) on the support set's ATA objective (no temporal term). Transductive:
    `refine_steps` times, prototypes = the queries' mean weighted by their current scores
    (softmax(appearance) + softmax(temporal)) plus the initial prototypes, renormalised.
    """
    support = F.normalize(support, dim=-1)
    query = F.normalize(query, dim=-1)
    prior = prior.to(support.dtype)
    order = torch.argsort(support_labels, stable=True)        # class-major: prototypes in label order
    initial = support[order].reshape(way, -1, *support.shape[1:]).mean(dim=1)    # (C, T, D)
    scale = torch.full((1,), head.init_scale, dtype=support.dtype, device=support.device)
    if head.transductive:
        with torch.no_grad():
            prototypes = initial
            for _ in range(head.refine_steps):
                similarity, normalized = similarity_matrix(query, prototypes, scale)
                scores = (appearance_score(similarity, head.test_scale).softmax(1)
                          + temporal_score(normalized, prior, head.test_scale, head.eps).softmax(1))   # (Q, C)
                weighted = (scores[:, :, None, None] * query[:, None]).sum(0) / scores.sum(0)[:, None, None]
                prototypes = F.normalize(weighted + initial, dim=-1)
            similarity, _ = similarity_matrix(query, prototypes, scale)
            return appearance_score(similarity, head.test_scale).softmax(1)
    prototypes = initial.clone().requires_grad_(True)
    scale.requires_grad_(True)
    optimizer = torch.optim.Adam([prototypes, scale], lr=head.refine_lr)
    for _ in range(head.refine_steps):
        similarity, normalized = similarity_matrix(support, prototypes, scale)
        loss = ata_objective(similarity, normalized, support_labels, prior, head.refine_conditional_entropy_weight,
                             head.refine_entropy_weight, 0.0, head.eps)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        similarity, normalized = similarity_matrix(query, prototypes, scale)
        return (appearance_score(similarity, head.test_scale).softmax(1)
                + temporal_score(normalized, prior, head.test_scale, head.eps).softmax(1))
