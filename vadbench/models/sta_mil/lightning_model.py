"""STA-MIL LightningModule: builds the torch core and the loss; a few lines per step."""

from __future__ import annotations

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.mil_base import MILAnomalyModule
from vadbench.models.sta_mil.metrics import FrameMetricsWithScoreGap
from vadbench.models.sta_mil.torch_model import pool_segments, segment_membership, spread_segment_scores


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
    `test/score_gap`). Parts (configs/model/sta_mil.yaml): `net: STAMILModel`, `loss: STAMILLoss`,
    `optimizer`; the rest of the args: `MILAnomalyModule`.
    """

    model_id = "sta_mil"
    evaluation_options = MILAnomalyModule.evaluation_options + ("test_segments",)

    def __init__(self, *, test_segments: int | None = 32, **kwargs):
        super().__init__(**kwargs)
        self.test_segments = test_segments
        self.test_metrics = FrameMetricsWithScoreGap(self.frames_per_snippet, self.far_threshold)

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
        return {"scorer": self.model.scorer_kind, "use_mce": self.loss.use_mce, "use_sta": self.model.sta is not None,
                "crop_mode": self.model.crop_mode, "test_segments": self.test_segments}
