"""SSRL LightningModule: the shared magnitude-MIL module (with staged training) under SSRL's name."""

from __future__ import annotations

from vadbench.models.rtfm.lightning_model import MagnitudeMILModule


class SSRL(MagnitudeMILModule):
    """Scale-aware Spatio-temporal Relation Learning (Li et al., ECCV 2022).

    Parts (configs/model/ssrl.yaml): `net: SSRLModel` (its RTFM arguments configure the VTR and
    classifier), `loss: RTFMLoss` (SSRL eqs. (7)-(10) are RTFM's loss), `optimizer`. Step-by-step
    training: stage 1 with `patch_scales: []` (= RTFM), then one scale more per stage with
    `stage_checkpoint` = the previous stage's checkpoint; `vadbench ssrl_schedule` runs them all.
    `freeze_loaded`: train only what the checkpoint lacks (the new scale's branch).
    """

    model_id = "ssrl"
