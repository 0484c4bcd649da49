"""MSIP LightningModule: builds the torch core and the loss; two-stage training via `stage_checkpoint`."""

from __future__ import annotations

from typing import Literal

from vadbench.models.mil_base import OptimizerFactory
from vadbench.models.msip.loss import MSIPLoss
from vadbench.models.msip.torch_model import HGCDirection, IntraGraph, MSIPModel
from vadbench.models.relation import AttentionNorm
from vadbench.models.ssrl.lightning_model import StagedMILModule


class MSIP(StagedMILModule):
    """Multi-Scale Integrated Perception (Ye et al., ICASSP 2024).

    Two stages (poster): stage one trains CTR + classifier (`patch_scales: []`); stage two loads it
    (`stage_checkpoint`), freezes it and trains MPSR (`freeze_loaded: true`). `vadbench msip_schedule`
    runs both. Model args go to `MSIPModel`, loss args to `MSIPLoss`.
    """

    model_id = "msip"

    def __init__(
        self,
        feature_dim: int = 2048,
        patch_scales: list[str] = ["patch23", "patch35", "patch47"],  # noqa: B006 - jsonargparse default
        hidden_dim: int | None = None,
        readout_dim: int | None = None,
        use_relation: bool = True,
        use_hgc: bool = True,
        hgc_cross_scale: bool = True,
        hgc_direction: HGCDirection = "fine_to_coarse",
        hgc_intra_graph: IntraGraph = "similarity",
        stage_checkpoint: str | None = None,
        freeze_loaded: bool = True,
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
        self.stage_checkpoint, self.freeze_loaded = stage_checkpoint, freeze_loaded
        self.model = MSIPModel(feature_dim, dropout, classifier_hidden, k, exclusion_rate, use_dilated, use_nonlocal,
                               attention_norm, patch_scales, hidden_dim, readout_dim, use_relation, use_hgc,
                               hgc_cross_scale, hgc_direction, hgc_intra_graph)
        self.loss = MSIPLoss(margin, lambda_fm, lambda_sparsity, lambda_smooth, magnitude_loss, classification,
                             sparsity, smooth_across_videos)
