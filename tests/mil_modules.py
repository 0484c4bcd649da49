"""Building MIL LightningModules in tests: from Python parts, or from a packaged config (the paper's
optimizer and loss weights live in configs/model/<model>.yaml, not in the classes)."""

from __future__ import annotations

from functools import partial

import torch

from vadbench.models.rtfm import RTFMLoss

# RTFM / SSRL / MSIP papers: Adam, lr 1e-3, weight decay 5e-4 (configs/model/{rtfm,ssrl,msip}.yaml)
PAPER_ADAM = partial(torch.optim.Adam, lr=1e-3, weight_decay=5e-4)


def magnitude_module(module_cls, net_cls, *, stage_checkpoint=None, freeze_loaded=True, **net_args):
    """RTFM / SSRL / MSIP with RTFM's loss at the paper's defaults; net_args go to the torch core."""
    return module_cls(net=net_cls(**net_args), loss=RTFMLoss(), optimizer=PAPER_ADAM,
                      stage_checkpoint=stage_checkpoint, freeze_loaded=freeze_loaded)


def from_config(name: str, *overrides: str):
    """The LightningModule a packaged config builds (through VadbenchCLI, nothing runs)."""
    from vadbench.commands.complexity import build_module

    return build_module([name], list(overrides))
