"""BN-WVAD's LightningModule: a thin named subclass (the step is `CropInstanceMILModule`'s)."""

from __future__ import annotations

from vadbench.models.bn_wvad.torch_model import official_key_map
from vadbench.models.components.crop_instance_module import CropInstanceMILModule


class BNWVAD(CropInstanceMILModule):
    """BatchNorm-based Weakly Supervised Video Anomaly Detection (Zhou et al., 2023; TCSVT 2024).

    Parts (configs/model/bn_wvad.yaml): `net: BNWVADModel`, `loss: BNWVADLoss`, `optimizer` (official:
    Adam, lr 1e-4, weight decay 5e-5); `crop_sampling` (official `one_random`). The official gradient
    clipping (norm 1.0) is the trainer's `gradient_clip_val` (recipe/bn_wvad_official.yaml). A training
    step: `BNWVADModel.training_forward` on the picked crops, then `BNWVADLoss`.
    """

    model_id = "bn_wvad"

    def __init__(self, *, far_threshold: float | None = None, **kwargs):
        # no FAR by default: the test score (DFM x probability) is not in [0, 1], so the other models'
        # 0.5 would count every normal frame as an alarm; set a threshold on this scale to have one
        super().__init__(far_threshold=far_threshold, **kwargs)
    official_keys = staticmethod(official_key_map)
    official_checkpoint_format = "the official BN-WVAD code's state_dict (cool-xuan/BN-WVAD models/model.py WSAD)"
