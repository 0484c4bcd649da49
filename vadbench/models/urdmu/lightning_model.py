"""UR-DMU's LightningModule: a thin named subclass (the step is `CropInstanceMILModule`'s)."""

from __future__ import annotations

from vadbench.models.components.crop_instance_module import CropInstanceMILModule
from vadbench.models.urdmu.torch_model import official_key_map


class URDMU(CropInstanceMILModule):
    """Dual Memory Units with Uncertainty Regulation (Zhou, Yu, Yang, AAAI 2023).

    Parts (configs/model/urdmu.yaml): `net: URDMUModel`, `loss: URDMULoss`, `optimizer` (official: Adam,
    lr 1e-4, weight decay 5e-5); `crop_sampling` (official `one_random`: one crop file per video and
    step). A training step: `URDMUModel.training_forward` on the picked crops, then `URDMULoss`.
    """

    model_id = "urdmu"
    official_keys = staticmethod(official_key_map)
    official_checkpoint_format = "the official UR-DMU code's state_dict (henrryzh1/UR-DMU model.py WSAD)"
