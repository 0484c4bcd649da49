"""Sultani et al. MIL ranking LightningModule (the base of STA-MIL)."""

from __future__ import annotations

from typing import Literal

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from vadbench.data.mil.batch import MILBatch
from vadbench.models.mil_base import MILAnomalyModule
from vadbench.models.sultani.torch_model import official_frame_scores, official_segment_features


class SultaniMIL(MILAnomalyModule):
    """Real-world Anomaly Detection in Surveillance Videos (Sultani, Chen, Shah, CVPR 2018).

    Paper: C3D fc6 features (4096-d) of 32 segments, 3-layer MLP (512, 32, 1), dropout 0.6, Adagrad
    lr 0.001, 30 positive + 30 negative bags per batch, lambda1 = lambda2 = 8e-5.
    Parts (configs/model/sultani.yaml): `net: SultaniMILModel`, `loss: MILRankingLoss`, `optimizer`.

    test_scoring: `per_snippet` scores every snippet of an evaluated video (validation, test, predict);
        `official_segments` scores it as the official evaluation does (Evaluate_Anomaly_Detector.m): the
        clips averaged into 32 segments (`official_segment_features`), the 32 scores expanded back to the
        clips (`official_frame_scores`; the last clip keeps 0 as in the script). The official recipe
        (recipe/sultani_official.yaml).
    """

    model_id = "sultani"
    evaluation_options = MILAnomalyModule.evaluation_options + ("test_scoring",)

    def __init__(self, *, net: nn.Module, loss: nn.Module, optimizer: OptimizerCallable,
                 scheduler: LRSchedulerCallable | None = None, frames_per_snippet: int = 16,
                 test_scoring: Literal["per_snippet", "official_segments"] = "per_snippet", far_threshold: float | None = 0.5):
        super().__init__(net=net, loss=loss, optimizer=optimizer, scheduler=scheduler,
                         frames_per_snippet=frames_per_snippet, far_threshold=far_threshold)
        if test_scoring not in ("per_snippet", "official_segments"):
            raise ValueError(f"test_scoring must be 'per_snippet' or 'official_segments'; got {test_scoring!r}")
        self.test_scoring = test_scoring

    def official_test_scores(self, batch: MILBatch) -> torch.Tensor:
        """(B, T) per-clip scores through the official 32-segment evaluation (one video at a time:
        each has its own segment bounds); padding stays 0."""
        out = batch.features.new_zeros(batch.mask.shape)
        for b, n in enumerate(batch.mask.sum(1).tolist()):
            segments = official_segment_features(batch.features[b, :n])      # (32, C, D)
            out[b, :n] = official_frame_scores(self.model(segments[None])[0], n, frames_per_clip=1)
        return out


    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        terms = self.loss(self.model(batch.features), batch.labels, batch.mask)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        """Evaluation scores (validation, test, predict: one scoring for all three)."""
        if self.test_scoring == "official_segments":
            return self.official_test_scores(batch)
        return self.model(batch.features)
