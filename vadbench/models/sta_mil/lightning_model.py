"""STA-MIL LightningModule: builds the torch core and the loss; a few lines per step."""

from __future__ import annotations

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.mil_base import MILAnomalyModule, OptimizerFactory
from vadbench.models.sta_mil.loss import STAMILLoss
from vadbench.models.sta_mil.metrics import FrameMetricsWithScoreGap
from vadbench.models.sta_mil.torch_model import (CropMode, RNNCell, Scorer, STAMILModel, pool_segments,
                                                 segment_membership, spread_segment_scores)


class STAMIL(MILAnomalyModule):
    """Learning Task-Specific Representation for Video Anomaly Detection with Spatial-Temporal
    Attention (Liu, Liu, Zhu, Wei, Huang, Song; ICASSP 2022).

    Paper: C3D (4096-d) or I3D (2048-d) features of 32 segments; recurrent criss-cross attention with
    D = 10 query/key channels; bd-RNN scorer (2 x 64, ReLU, sigmoid); loss eq. (6) with
    lambda_MCE = 2e-2, xi = 0.4, lambda1 = 2e-4, lambda2 = 4e-5; Adam lr 1e-4.
    Table 2 ablations: `use_mce=False` (w/o L_MCE), `scorer="fc"` (FC instead of bd-RNN).
    Test: every video is cut into `test_segments` segments as in training (Sultani et al.'s
    protocol; None = score the full-length snippet sequence); each snippet gets its segment's score.
    The test step also reports the score gap (`test/score_mean_negative`, `test/score_mean_positive`,
    `test/score_gap`). Model args: see `STAMILModel`.
    """

    model_id = "sta_mil"

    def __init__(
        self,
        feature_dim: int = 2048,
        num_crops: int = 10,
        crop_mode: CropMode = "channels",
        qk_channels: int = 10,
        recurrence: int = 2,
        use_sta: bool = True,
        scorer: Scorer = "bd_rnn",
        rnn_hidden: int = 64,
        rnn_layers: int = 2,
        rnn_cell: RNNCell = "rnn",
        rnn_dropout: float = 0.0,
        fc_hidden: tuple[int, ...] = (512, 32),
        fc_dropout: float = 0.6,
        use_mce: bool = True,
        lambda_mce: float = 2e-2,
        mce_margin: float = 0.4,
        ranking_margin: float = 1.0,
        lambda_smooth: float = 2e-4,
        lambda_sparsity: float = 4e-5,
        test_segments: int | None = 32,
        chunk_size: int = 0,
        optimizer: OptimizerFactory | None = None,
        frames_per_snippet: int = 16,
    ):
        super().__init__(optimizer, frames_per_snippet)
        self.save_hyperparameters(ignore=["optimizer"])
        self.model = STAMILModel(feature_dim, num_crops, crop_mode, qk_channels, recurrence, use_sta, scorer,
                                 rnn_hidden, rnn_layers, rnn_cell, rnn_dropout, fc_hidden, fc_dropout, chunk_size)
        self.loss = STAMILLoss(lambda_mce, mce_margin, use_mce, ranking_margin, lambda_smooth, lambda_sparsity)
        self.test_segments = test_segments
        self.test_metrics = FrameMetricsWithScoreGap(frames_per_snippet)

    def default_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=1e-4)

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        out = self.model(batch.features, batch.mask)
        terms = self.loss(out.boosted, out.scores, batch.labels, batch.mask)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        if self.test_segments is None:
            return self.model(batch.features, batch.mask).scores.masked_fill(~batch.mask, 0.0)
        membership = segment_membership(batch.mask.sum(1), self.test_segments, batch.features.shape[1])
        segment_scores = self.model(pool_segments(batch.features, membership)).scores
        return spread_segment_scores(segment_scores, membership)

    def result_metadata(self) -> dict:
        hp = self.hparams
        return {"scorer": hp.scorer, "use_mce": hp.use_mce, "use_sta": hp.use_sta, "crop_mode": hp.crop_mode,
                "test_segments": hp.test_segments}
