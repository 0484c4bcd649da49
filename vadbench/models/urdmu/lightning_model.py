"""UR-DMU's LightningModule: a thin step over `URDMUModel` and `URDMULoss`."""

from __future__ import annotations

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from vadbench.data.mil.batch import MILBatch
from vadbench.models.components.crops import CropSampling, check_crop_sampling, training_crops
from vadbench.models.mil_base import MILAnomalyModule
from vadbench.models.urdmu.torch_model import official_key_map


class URDMU(MILAnomalyModule):
    """Dual Memory Units with Uncertainty Regulation (Zhou, Yu, Yang, AAAI 2023).

    Parts (configs/model/urdmu.yaml): `net: URDMUModel`, `loss: URDMULoss`, `optimizer` (official: Adam,
    lr 1e-4, weight decay 5e-5).

    crop_sampling: which crops a training step uses (`components.crops`): `one_random` (official: one
        crop file per video and step), `all` (every crop, averaged inside the model), `mean`.
    """

    model_id = "urdmu"

    def __init__(self, *, net: nn.Module, loss: nn.Module, optimizer: OptimizerCallable,
                 scheduler: LRSchedulerCallable | None = None, frames_per_snippet: int = 16,
                 crop_sampling: CropSampling = "one_random"):
        super().__init__(net=net, loss=loss, optimizer=optimizer, scheduler=scheduler,
                         frames_per_snippet=frames_per_snippet)
        self.crop_sampling = check_crop_sampling(crop_sampling)

    @classmethod
    def official_key_map(cls) -> dict[str, str]:
        """Official `WSAD` state_dict module names -> this module's (for authors' checkpoints)."""
        return {k: f"model.{v}" for k, v in official_key_map().items()}

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        out = self.model.training_forward(training_crops(batch.features, self.crop_sampling))
        terms = self.loss(out, batch.labels)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        return self.model(batch.features, batch.mask)

    def result_metadata(self) -> dict:
        return {"params": sum(p.numel() for p in self.model.parameters()), "crop_sampling": self.crop_sampling}
