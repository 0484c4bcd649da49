"""The LightningModule plumbing shared by UR-DMU and BN-WVAD: a torch core with
`training_forward(features) -> output` (what the loss reads) and `forward(features, mask) -> (B, T)`
scores, trained on the crops `crop_sampling` picks (`components.crops`), and the authors' released
state_dicts read through the core's official key map (`components.official_checkpoints`)."""

from __future__ import annotations

from typing import Callable

import torch

from vadbench.data.mil.batch import MILBatch
from vadbench.models.components.crops import CropSampling, check_crop_sampling, training_crops
from vadbench.models.components.official_checkpoints import OfficialCheckpointMixin
from vadbench.models.mil_base import MILAnomalyModule


def rename_official(state: dict[str, torch.Tensor], key_map: dict[str, str]) -> dict[str, torch.Tensor]:
    """`<official module>.<leaf>` -> `<our module>.<leaf>` for every key; a module the map lacks is a
    ValueError naming the keys."""
    out, unknown = {}, []
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if module in key_map:
            out[f"{key_map[module]}.{leaf}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{len(unknown)} key(s) with no counterpart, e.g. {unknown[:3]}")
    return out


class CropInstanceMILModule(OfficialCheckpointMixin, MILAnomalyModule):
    """Args: `crop_sampling`, and **kwargs: `MILAnomalyModule`'s (net, loss, optimizer, scheduler, ...).
    crop_sampling: which crops a training step uses: `one_random` (the official per-crop-file instances:
        one crop per video and step), `all` (every crop, averaged inside the model), `mean`.

    Subclasses set `model_id`, `official_keys` (official module name -> the torch core's, the map the
    golden tests prove) and `official_checkpoint_format`.
    """

    official_keys: Callable[[], dict[str, str]]

    def __init__(self, *, crop_sampling: CropSampling = "one_random", **kwargs):
        super().__init__(**kwargs)
        self.crop_sampling = check_crop_sampling(crop_sampling)

    @classmethod
    def convert_official_state_dict(cls, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """An authors' state_dict in the torch core's names (`vadbench test --ckpt_path <official file>`)."""
        return rename_official(state, cls.official_keys())

    def training_step(self, batch: MILBatch, batch_idx: int) -> torch.Tensor:
        out = self.model.training_forward(training_crops(batch.features, self.crop_sampling))
        terms = self.loss(out, batch.labels)
        self.log_losses(terms, batch.batch_size)
        return terms["loss"]

    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        return self.model(batch.features, batch.mask)

    def result_metadata(self) -> dict:
        return {"params": sum(p.numel() for p in self.model.parameters()), "crop_sampling": self.crop_sampling,
                **self.official_weights_metadata()}
