"""RTFM's LightningModule, the one magnitude-MIL module shared by RTFM, SSRL and MSIP.

The three differ only in their torch core (`RTFMModel`, `SSRLModel`, `MSIPModel`, all returning an
`RTFMOutput` and selecting the top-k snippets by magnitude) and share RTFM's loss (`RTFMLoss`, SSRL
eqs. (7)-(10)); `RTFM`, `SSRL` and `MSIP` are thin named subclasses (their `model_id`). It lives
beside RTFM's torch core as SSRLModel and MSIPModel extend RTFMModel; staged training is shared
(`vadbench.models.components.staging`).
"""

from __future__ import annotations

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.components.staging import StagedMILModule
from vadbench.models.rtfm.torch_model import gather_snippets


class MagnitudeMILModule(StagedMILModule):
    """Top-k snippets by feature magnitude, RTFM's loss; optionally one stage of a staged schedule.

    Args: see `StagedMILModule` (stage_checkpoint, freeze_loaded) and `MILAnomalyModule` (net, loss,
    optimizer, scheduler, frames_per_snippet). `net` is called as `net(features, mask, patches)`.
    """

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
        return {"patch_scales": list(getattr(self.model, "patch_scales", [])), "stage_checkpoint": self.stage_checkpoint,
                "params": sum(p.numel() for p in self.model.parameters()),
                "trained_params": sum(p.numel() for p in self.model.parameters() if p.requires_grad)}


class RTFM(MagnitudeMILModule):
    """Robust Temporal Feature Magnitude learning (Tian et al., ICCV 2021).

    Parts (configs/model/rtfm.yaml): `net: RTFMModel`, `loss: RTFMLoss`, `optimizer` (paper: Adam,
    lr 1e-3, weight decay 5e-4; official code: 5e-3); see `MagnitudeMILModule` for the step.
    """

    model_id = "rtfm"
