"""Sultani et al. MIL ranking LightningModule (the base of STA-MIL)."""

from __future__ import annotations

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.mil_base import MILAnomalyModule


class SultaniMIL(MILAnomalyModule):
    """Real-world Anomaly Detection in Surveillance Videos (Sultani, Chen, Shah, CVPR 2018).

    Paper: C3D fc6 features (4096-d) of 32 segments, 3-layer MLP (512, 32, 1), dropout 0.6, Adagrad
    lr 0.001, 30 positive + 30 negative bags per batch, lambda1 = lambda2 = 8e-5.
    Parts (configs/model/sultani.yaml): `net: SultaniMILModel`, `loss: MILRankingLoss`, `optimizer`.
    """

    model_id = "sultani"

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        terms = self.loss(self.model(batch.features), batch.labels, batch.mask)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        return self.model(batch.features)
