"""SloshNet's two official optimizers as one `torch.optim.Optimizer`, and its learning-rate schedule.

Official run.py (`--opt sgd`, every published script): SGD(lr, momentum 0.9, weight decay 3e-4) for the
network and Adam(3e-3, betas (0.5, 0.999), weight decay 1e-3) for the fusion cell's architecture weights
alpha; both step after the same 16 tasks, and both rates follow the same relative schedule
(`Utils/lr_policy.py` `steps_with_relative_lrs`). The scripts' `--weight_decay 5e-4` is parsed but never
used (the SGD weight decay is hard-coded). Lightning's automatic optimisation drives one optimizer, so
`SGDWithArchitectureAdam` holds both and steps both; its `param_groups` are those of the two inner
optimizers (the same dicts), so a scheduler scales both rates.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch.optim import Optimizer

from vadbench.models.hyrsm.schedule import HyRSMOfficialLR


class SGDWithArchitectureAdam(Optimizer):
    """SGD for the parameter groups without `architecture: True`, Adam for those with it.

    Args:
        params: parameters or parameter groups (`SloshNet.parameter_groups` marks the alphas' group).
        lr, momentum, weight_decay: the SGD (official: lr 1e-4 (HMDB51 / Kinetics / UCF101), 0.9, 3e-4).
        arch_lr, arch_betas, arch_weight_decay: the Adam of the architecture weights (3e-3, (0.5, 0.999), 1e-3).
    """

    def __init__(self, params: Iterable, lr: float = 1e-4, momentum: float = 0.9, weight_decay: float = 3e-4,
                 arch_lr: float = 3e-3, arch_betas: tuple[float, float] = (0.5, 0.999),
                 arch_weight_decay: float = 1e-3):
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        weights = [g for g in groups if not g.get("architecture", False)]
        architecture = [g for g in groups if g.get("architecture", False)]
        self.weights = torch.optim.SGD(weights, lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.architecture = (torch.optim.Adam(architecture, lr=arch_lr, betas=tuple(arch_betas),
                                              weight_decay=arch_weight_decay) if architecture else None)
        inner = self.weights.param_groups + (self.architecture.param_groups if self.architecture else [])
        super().__init__(inner, {})   # the same group dicts: a scheduler's lr changes reach both optimizers

    def _inner(self) -> list[Optimizer]:
        return [self.weights] + ([self.architecture] if self.architecture is not None else [])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self._inner():   # official order: the SGD, then the alpha Adam
            optimizer.step()
        return loss

    def state_dict(self) -> dict:
        return {"weights": self.weights.state_dict(),
                "architecture": self.architecture.state_dict() if self.architecture is not None else None}

    def load_state_dict(self, state_dict: dict) -> None:
        self.weights.load_state_dict(state_dict["weights"])
        if self.architecture is not None and state_dict.get("architecture") is not None:
            self.architecture.load_state_dict(state_dict["architecture"])


class SloshNetOfficialLR(HyRSMOfficialLR):
    """The official `steps_with_relative_lrs` schedule (no warm-up: `--warmup_epochs 0`) in optimizer steps.

    The official loop sets the rate after task i (1-based) from the "epoch" i / step_iter and steps the
    optimizers at i = 16 k + 15 for step k ((i + 1) % 16 == 0); factor LRS[j] for the last STEPS[j] <= epoch,
    the last factor from training_iterations // step_iter on. HMDB51 (step_iter 1500, STEPS [0, 6, 8, 9], LRS
    [1, 0.5, 0.1, 0.01]): x0.5 from step 562, x0.1 from 750, x0.01 from 843 (step_iter 1000: 375, 500, 562;
    checked against the official `get_lr_at_epoch`). Unlike HyRSM's loop, the
    epoch does not count whole epochs twice.

    Args:
        optimizer: the optimizer; its groups' rates are the base rates.
        steps_iter: tasks per schedule epoch (`--step_iterations`: 1500 HMDB51 and Kinetics 1-shot, 1000
            Kinetics 5-shot and UCF101).
        steps, factors: `--steps`, `--LRS` ([0, 6, 8, 9], [1, 0.5, 0.1, 0.01] in every script but SSv2's).
        max_epoch: training_iterations // step_iter (30010 // 1500 = 20).
        iterations_per_step: tasks per optimizer step (16).
    """

    def __init__(self, optimizer: Optimizer, steps_iter: int = 1500, steps: list[float] = (0, 6, 8, 9),
                 factors: list[float] = (1.0, 0.5, 0.1, 0.01), max_epoch: float = 20, iterations_per_step: int = 16):
        super().__init__(optimizer, steps_iter, list(steps), list(factors), max_epoch, warmup_epochs=0.0,
                         warmup_start_factor=1.0, iterations_per_step=iterations_per_step)

    def factor(self, step: int) -> float:
        iteration = (step + 1) * self.iterations_per_step - 1    # 1-based task index of optimizer step `step`
        return self.epoch_factor(iteration / self.steps_iter)
