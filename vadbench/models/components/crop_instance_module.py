"""The LightningModule plumbing shared by UR-DMU and BN-WVAD: a torch core with
`training_forward(features) -> output` (what the loss reads) and `forward(features, mask) -> (B, T)`
scores, trained on the crops `crop_sampling` picks (`components.crops`), and the authors' checkpoints
read through the core's official key map (`components.official_checkpoints`)."""

from __future__ import annotations

from typing import Callable

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from vadbench.data.mil.batch import MILBatch
from vadbench.models.components.crops import CropSampling, check_crop_sampling, training_crops
from vadbench.models.mil_base import MILAnomalyModule


class CropInstanceMILModule(MILAnomalyModule):
    """Args: see `MILAnomalyModule` (net, loss, optimizer, scheduler, frames_per_snippet), and
    crop_sampling: which crops a training step uses: `one_random` (the official per-crop-file instances:
        one crop per video and step), `all` (every crop, averaged inside the model), `mean`.

    Subclasses set `model_id` and `official_keys` (official module name -> the torch core's).
    """

    official_keys: Callable[[], dict[str, str]] | None = None

    def __init__(self, *, net: nn.Module, loss: nn.Module, optimizer: OptimizerCallable,
                 scheduler: LRSchedulerCallable | None = None, frames_per_snippet: int = 16,
                 crop_sampling: CropSampling = "one_random"):
        super().__init__(net=net, loss=loss, optimizer=optimizer, scheduler=scheduler,
                         frames_per_snippet=frames_per_snippet)
        self.crop_sampling = check_crop_sampling(crop_sampling)

    @classmethod
    def official_key_map(cls) -> dict[str, str] | None:
        """Official state_dict module names -> this module's (`model.` + the core's), for authors' checkpoints."""
        keys = cls.official_keys
        return None if keys is None else {k: f"model.{v}" for k, v in keys().items()}

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        out = self.model.training_forward(training_crops(batch.features, self.crop_sampling))
        terms = self.loss(out, batch.labels)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        return self.model(batch.features, batch.mask)

    def result_metadata(self) -> dict:
        return {"params": sum(p.numel() for p in self.model.parameters()), "crop_sampling": self.crop_sampling}
