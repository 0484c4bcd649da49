"""RTFM LightningModule: builds the torch core and the loss; a few lines per step."""

from __future__ import annotations

from typing import Literal

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.mil_base import MILAnomalyModule, OptimizerFactory
from vadbench.models.relation import AttentionNorm
from vadbench.models.rtfm.loss import RTFMLoss
from vadbench.models.rtfm.torch_model import RTFMModel, gather_snippets


class RTFM(MILAnomalyModule):
    """Robust Temporal Feature Magnitude learning (Tian et al., ICCV 2021).

    Model args go to `RTFMModel`, loss args to `RTFMLoss`; see their docstrings. The optimizer comes
    from the config (paper: Adam, lr 1e-3, weight decay 5e-4; official code: 5e-3).
    """

    model_id = "rtfm"

    def __init__(
        self,
        feature_dim: int = 2048,
        k: int = 3,
        dropout: float = 0.7,
        classifier_hidden: tuple[int, ...] = (512, 128),
        exclusion_rate: float = 0.7,
        use_dilated: bool = True,
        use_nonlocal: bool = True,
        attention_norm: AttentionNorm = "softmax",
        margin: float = 100.0,
        lambda_fm: float = 1e-4,
        lambda_sparsity: float = 8e-3,
        lambda_smooth: float = 8e-4,
        magnitude_loss: Literal["hinge", "squared"] = "hinge",
        classification: Literal["per_snippet", "topk_mean"] = "per_snippet",
        sparsity: Literal["l1", "l2"] = "l1",
        smooth_across_videos: bool = False,
        optimizer: OptimizerFactory | None = None,
        frames_per_snippet: int = 16,
    ):
        super().__init__(optimizer, frames_per_snippet)
        self.save_hyperparameters(ignore=["optimizer"])
        self.model = RTFMModel(feature_dim, dropout, classifier_hidden, k, exclusion_rate, use_dilated,
                               use_nonlocal, attention_norm)
        self.loss = RTFMLoss(margin, lambda_fm, lambda_sparsity, lambda_smooth, magnitude_loss, classification,
                             sparsity, smooth_across_videos)

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        out = self.model(batch.features, batch.mask)
        idx = self.model.topk(out, batch.mask)
        terms = self.loss(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores,
                          batch.labels, batch.mask)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        return self.model(batch.features, batch.mask).scores
