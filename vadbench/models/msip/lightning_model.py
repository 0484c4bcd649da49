"""MSIP LightningModule: the shared magnitude-MIL module (two-stage training) under MSIP's name."""

from __future__ import annotations

from vadbench.models.rtfm.lightning_model import MagnitudeMILModule


class MSIP(MagnitudeMILModule):
    """Multi-Scale Integrated Perception (Ye et al., ICASSP 2024).

    Parts (configs/model/msip.yaml): `net: MSIPModel`, `loss: RTFMLoss` (the poster's L_FM is RTFM's
    magnitude loss; its weights are SSRL's), `optimizer`. Two stages (poster): stage one trains CTR +
    classifier (`patch_scales: []`); stage two loads it (`stage_checkpoint`), freezes it and trains
    MPSR (`freeze_loaded: true`). `vadbench msip_schedule` runs both.
    """

    model_id = "msip"
