"""Sultani et al. MIL ranking LightningModule (the base of STA-MIL)."""

from __future__ import annotations

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.mil_base import MILAnomalyModule, OptimizerFactory
from vadbench.models.sultani.loss import MILRankingLoss
from vadbench.models.sultani.torch_model import SultaniMILModel


class SultaniMIL(MILAnomalyModule):
    """Real-world Anomaly Detection in Surveillance Videos (Sultani, Chen, Shah, CVPR 2018).

    Paper: C3D fc6 features (4096-d) of 32 segments, 3-layer MLP (512, 32, 1), dropout 0.6, Adagrad
    lr 0.001, 30 positive + 30 negative bags per batch, lambda1 = lambda2 = 8e-5.
    """

    model_id = "sultani"

    def __init__(
        self,
        feature_dim: int = 4096,
        hidden: tuple[int, ...] = (512, 32),
        dropout: float = 0.6,
        l2_normalize: bool = True,
        margin: float = 1.0,
        lambda_smooth: float = 8e-5,
        lambda_sparsity: float = 8e-5,
        optimizer: OptimizerFactory | None = None,
        frames_per_snippet: int = 16,
    ):
        super().__init__(optimizer, frames_per_snippet)
        self.save_hyperparameters(ignore=["optimizer"])
        self.model = SultaniMILModel(feature_dim, hidden, dropout, l2_normalize)
        self.loss = MILRankingLoss(margin, lambda_smooth, lambda_sparsity)

    def default_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adagrad(params, lr=1e-3, weight_decay=1e-3)

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        terms = self.loss(self.model(batch.features), batch.labels, batch.mask)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        return self.model(batch.features)
