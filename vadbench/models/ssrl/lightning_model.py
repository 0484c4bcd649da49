"""SSRL LightningModule: builds the torch core and the loss, loads the previous stage when asked."""

from __future__ import annotations

from typing import Literal

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.mil_base import MILAnomalyModule, OptimizerFactory
from vadbench.models.relation import AttentionNorm
from vadbench.models.rtfm.torch_model import gather_snippets
from vadbench.models.ssrl.loss import SSRLLoss
from vadbench.models.ssrl.staging import FrozenModules, load_stage
from vadbench.models.ssrl.torch_model import MPAConv, SSRLModel


class StagedMILModule(FrozenModules, MILAnomalyModule):
    """A MIL module whose fit can start from a previous stage (`stage_checkpoint`), see staging.py."""

    stage_checkpoint: str | None = None
    freeze_loaded: bool = True

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.stage_checkpoint and not getattr(self, "_stage_loaded", False):
            loaded, new = load_stage(self, self.stage_checkpoint, self.freeze_loaded)
            self._stage_loaded = True
            self.stage_keys = {"loaded": loaded, "new": new}
            if self.freeze_loaded and not any(p.requires_grad for p in self.parameters()):
                raise ValueError(f"stage checkpoint {self.stage_checkpoint} already holds every parameter of this "
                                 f"model, so nothing would train; add a patch scale or set freeze_loaded: false")
            self.train(self.training)                      # frozen BatchNorms to eval now

    def on_train_epoch_start(self) -> None:
        # Lightning does not call .train() itself at fit start; keep frozen BatchNorm stats fixed.
        self.train()

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        out = self.model(batch.features, batch.mask, batch.patches)
        idx = self.model.topk(out, batch.mask)             # SSRL eq. (7): top-k by feature magnitude
        terms = self.loss(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores,
                          batch.labels, batch.mask)        # SSRL eq. (10)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        return self.model(batch.features, batch.mask, batch.patches).scores

    def result_metadata(self) -> dict:
        return {"patch_scales": list(self.model.patch_scales), "stage_checkpoint": self.stage_checkpoint,
                "params": sum(p.numel() for p in self.model.parameters()),
                "trained_params": sum(p.numel() for p in self.model.parameters() if p.requires_grad)}


class SSRL(StagedMILModule):
    """Scale-aware Spatio-temporal Relation Learning (Li et al., ECCV 2022).

    Model args go to `SSRLModel` (the RTFM ones configure its VTR and classifier), loss args to
    `SSRLLoss`. Step-by-step training: run stage 1 with `patch_scales: []` (= RTFM), then add one scale
    per stage with `stage_checkpoint` = the previous stage's checkpoint; `vadbench ssrl_schedule` runs
    them all. `freeze_loaded`: train only what the checkpoint lacks (the new scale's branch).
    """

    model_id = "ssrl"

    def __init__(
        self,
        feature_dim: int = 2048,
        patch_scales: list[str] = ["patch23", "patch35", "patch47"],  # noqa: B006 - jsonargparse default
        use_psr: bool = True,
        psr_dilated: bool = True,
        psr_nonlocal: bool = True,
        share_psr: bool = False,
        mpa_conv: MPAConv = "paper",
        mpa_dropout: dict[str, float] | None = None,
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
        self.model = SSRLModel(feature_dim, dropout, classifier_hidden, k, exclusion_rate, use_dilated,
                               use_nonlocal, attention_norm, patch_scales, use_psr, psr_dilated, psr_nonlocal,
                               share_psr, mpa_conv, mpa_dropout)
        self.loss = SSRLLoss(margin, lambda_fm, lambda_sparsity, lambda_smooth, magnitude_loss, classification,
                             sparsity, smooth_across_videos)
