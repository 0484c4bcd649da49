"""HyRSM's official learning-rate schedule, stepped once per optimizer step.

The official loop (`runs/train_net_few_shot.py`, `models/utils/lr_policy.py`) sets the rate at every
iteration i (one task) from an "epoch" e(i) = floor(i / STEPS_ITER) + i / STEPS_ITER (whole epochs are
counted twice), warms up linearly from WARMUP_START_LR to the rate at e = WARMUP_EPOCHS while
e < WARMUP_EPOCHS, and otherwise takes BASE_LR x LRS[j] for the last STEPS[j] <= e (from MAX_EPOCH on:
the last factor). The optimizer steps every BATCH_SIZE_PER_TASK iterations, at iteration
i = (k + 1) x BATCH_SIZE_PER_TASK - 1 for step k, with the rate set at that iteration; `HyRSMOfficialLR`
gives optimizer step k exactly that rate. In optimizer steps this is (recipe/hyrsm_hmdb51.yaml,
model/hyrsm.yaml):
- HMDB51 (STEPS_ITER 300, STEPS [0, 2, 3, 7], LRS [1, 0.5, 0.1, 0.01], 2 iterations a step): warm-up
  from 1e-5 to 5e-5 over about 150 steps, x0.5 from step 150, x0.1 from 300, x0.01 from 600 (1000 steps);
- Kinetics-100 (STEPS_ITER 100, STEPS [0, 4, 6, 9], LRS [1, 0.5, 0.1, 0.05], 4 iterations a step):
  warm-up from 5e-6 to 2.2e-5 over 25 steps, x0.5 from step 50, x0.1 from 75, x0.05 from 125 (300 steps).
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class HyRSMOfficialLR(LambdaLR):
    """The official `steps_with_relative_lrs` policy with warm-up, as a factor of the optimizer's base rate.

    Args:
        optimizer: the optimizer (given by the LightningModule); its lr is BASE_LR.
        steps_iter: iterations per schedule "epoch" (SOLVER.STEPS_ITER).
        steps: epochs at which each factor starts (SOLVER.STEPS, first 0).
        factors: SOLVER.LRS, one per step.
        max_epoch: SOLVER.MAX_EPOCH.
        warmup_epochs: SOLVER.WARMUP_EPOCHS.
        warmup_start_factor: SOLVER.WARMUP_START_LR / BASE_LR.
        iterations_per_step: tasks per optimizer step on one GPU (TRAIN.BATCH_SIZE_PER_TASK).
    """

    def __init__(self, optimizer: Optimizer, steps_iter: int, steps: list[float], factors: list[float],
                 max_epoch: float, warmup_epochs: float = 1.0, warmup_start_factor: float = 1.0,
                 iterations_per_step: int = 1):
        if len(steps) != len(factors) or not steps or steps[0] != 0:
            raise ValueError(f"HyRSMOfficialLR: expected one factor per step and steps starting at 0; got steps "
                             f"{list(steps)}, factors {list(factors)}")
        self.steps_iter, self.steps, self.factors = steps_iter, list(steps), list(factors)
        self.max_epoch, self.warmup_epochs = max_epoch, warmup_epochs
        self.warmup_start_factor, self.iterations_per_step = warmup_start_factor, iterations_per_step
        super().__init__(optimizer, self.factor)

    def step_factor(self, epoch: float) -> float:
        """LRS[j] for the last STEPS[j] <= epoch (the last one at or beyond MAX_EPOCH)."""
        bounds = self.steps + [self.max_epoch]
        index = len(bounds) - 1
        for i, bound in enumerate(bounds):
            if epoch < bound:
                index = i
                break
        return self.factors[index - 1]

    def epoch_factor(self, epoch: float) -> float:
        if epoch < self.warmup_epochs:
            end = self.step_factor(self.warmup_epochs)
            return epoch * (end - self.warmup_start_factor) / self.warmup_epochs + self.warmup_start_factor
        return self.step_factor(epoch)

    def factor(self, step: int) -> float:
        """The factor of optimizer step `step` (0-based): the official rate at its last iteration."""
        iteration = (step + 1) * self.iterations_per_step - 1
        return self.epoch_factor(math.floor(iteration / self.steps_iter) + iteration / self.steps_iter)
