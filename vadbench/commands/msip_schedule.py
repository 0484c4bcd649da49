"""`vadbench msip_schedule --config configs/msip/synthetic.yaml [--out DIR] [fit args]`

MSIP's two stages (poster): stage one trains CTR + classifier, stage two freezes them and trains MPSR.
"""

from __future__ import annotations

from vadbench.models.components.schedule import schedule_main, two_stage


def main(argv: list[str]) -> int:
    return schedule_main(argv, "msip", two_stage)
