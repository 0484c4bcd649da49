"""Stage-wise training shared by SSRL (step-by-step scales) and MSIP (two stages): `StagedMILModule`.

A stage starts from the previous stage's checkpoint (`stage_checkpoint`) and, with
`freeze_loaded=True`, trains only the parameters that checkpoint did not have (the new branch);
everything loaded stays bit-identical: its parameters get no gradient and its BatchNorm layers stay
in eval mode, so their running statistics do not move either. The official SSRL code meant to do
this but never loaded the previous stage (`state_dict().update(...)` has no effect); here a
checkpoint that does not fit the model is an error naming the offending keys.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vadbench.models.mil_base import MILAnomalyModule

from vadbench.errors import VadbenchError
from vadbench.models.components.weights import WeightsError, read_checkpoint


class StageCheckpointError(VadbenchError, ValueError):
    pass


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The `state_dict` of a Lightning checkpoint (or a bare state dict saved with torch.save)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"stage checkpoint {path} not found (the previous stage's last.ckpt)")
    try:
        ckpt = read_checkpoint(path, trusted=True)  # the user's own previous stage
    except WeightsError as err:
        raise StageCheckpointError(f"stage checkpoint {path} is not a readable torch checkpoint: "
                                   f"{err.__cause__ or err}") from err
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise StageCheckpointError(f"stage checkpoint {path}: expected a Lightning checkpoint with a 'state_dict'")
    return state


def load_stage(module: nn.Module, path: str | Path, freeze_loaded: bool = True) -> tuple[list[str], list[str]]:
    """Load the previous stage into `module`; return (loaded keys, new keys).

    Every key of the checkpoint must exist in `module` with the same shape; keys of `module` that the
    checkpoint lacks are the new stage's parameters. With `freeze_loaded`, loaded parameters stop
    requiring gradients and the modules whose parameters are all loaded are recorded as frozen
    (see `FrozenModules.train`).
    """
    state = read_state_dict(path)
    own = module.state_dict()
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in state if k in own and own[k].shape != state[k].shape)
    if unexpected or wrong:
        details = "".join([f"\n  not in this model: {unexpected[:10]}" if unexpected else "",
                           f"\n  shape differs: {[(k, tuple(state[k].shape), tuple(own[k].shape)) for k in wrong[:10]]}"
                           if wrong else ""])
        raise StageCheckpointError(f"stage checkpoint {path} does not fit {type(module).__name__}:{details}")
    module.load_state_dict(state, strict=False)
    new = sorted(set(own) - set(state))
    if freeze_loaded:
        for name, param in module.named_parameters():
            if name in state:
                param.requires_grad_(False)
    return sorted(state), new


def frozen_submodules(module: nn.Module) -> list[nn.Module]:
    """Submodules with parameters, all of which are frozen (their BatchNorm stats must not move)."""
    out = []
    for m in module.modules():
        params = list(m.parameters(recurse=False))
        if params and not any(p.requires_grad for p in params):
            out.append(m)
    return out


class FrozenModules:
    """Mixin for a LightningModule: keeps frozen submodules in eval mode whenever it is trained."""

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            for m in frozen_submodules(self):
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self


class StagedMILModule(FrozenModules, MILAnomalyModule):
    """A MIL module whose fit can start from a previous stage.

    Args:
        stage_checkpoint: the previous stage's `last.ckpt` (set by `vadbench ssrl_schedule` /
            `msip_schedule`); None = train from scratch.
        freeze_loaded: train only what the checkpoint lacks (the new branch).
        **kwargs: `MILAnomalyModule`'s (net, loss, optimizer, scheduler, frames_per_snippet).
    """

    def __init__(self, *, stage_checkpoint: str | None = None, freeze_loaded: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.stage_checkpoint, self.freeze_loaded = stage_checkpoint, freeze_loaded

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
