"""MGFN's LightningModule: RTFM's magnitude-MIL step with MGFN's core and loss, and the official checkpoint reader.

The training step and scoring are RTFM's `MagnitudeMILModule`'s (top-k snippets by crop-averaged feature
magnitude with the random exclusion, then `loss(top-k features, top-k scores, scores, labels, mask)`):
the official `MSNSD` + `mgfn_loss` do exactly this with MGFN's network (`MGFNModel`) and loss
(`MGFNLoss`). MGFN has no staged training, so it takes the two methods, not the staging options.
"""

from __future__ import annotations

import torch

from vadbench.models.components.official_checkpoints import OfficialCheckpointMixin
from vadbench.models.mgfn.official_checkpoint import official_to_vadbench
from vadbench.models.mil_base import MILAnomalyModule
from vadbench.models.rtfm.lightning_model import MagnitudeMILModule


class MGFN(OfficialCheckpointMixin, MILAnomalyModule):
    """Magnitude-Contrastive Glance-and-Focus Network (Chen et al., AAAI 2023).

    Parts (configs/model/mgfn.yaml): `net: MGFNModel`, `loss: MGFNLoss`, `optimizer` (official: Adam,
    lr 1e-3, weight decay 5e-4). `vadbench test --config mgfn/ucf_crime.yaml --ckpt_path mgfn_ucf.pkl`
    tests the authors' released state_dict (`convert_official_state_dict`); the result JSON says so.
    """

    model_id = "mgfn"
    training_step = MagnitudeMILModule.training_step     # official MSNSD + mgfn_loss
    snippet_scores = MagnitudeMILModule.snippet_scores
    official_checkpoint_format = "the official MGFN code's state_dict (carolchenyx/MGFN. models/mgfn.py)"

    @classmethod
    def convert_official_state_dict(cls, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ours, unknown = official_to_vadbench(state)
        if unknown:
            raise ValueError(f"{len(unknown)} key(s) with no MGFN counterpart, e.g. {unknown[:3]}")
        return ours

    def result_metadata(self) -> dict:
        return {"params": sum(p.numel() for p in self.model.parameters()), **self.official_weights_metadata()}
