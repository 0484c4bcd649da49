"""`vadbench ssrl_schedule --config configs/ssrl/synthetic.yaml [--scales ...] [--out DIR] [fit args]`

SSRL's step-by-step training (Sec. 4.2): stage 1 clip only (= RTFM), then one patch scale added per
stage; each stage loads the previous stage's weights and trains only the new scale's branch.
"""

from __future__ import annotations

from vadbench.models.components.schedule import schedule_main, step_by_step


def main(argv: list[str]) -> int:
    return schedule_main(argv, "ssrl", step_by_step)
