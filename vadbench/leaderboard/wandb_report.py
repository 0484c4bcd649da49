"""Log the comparison tables and plots to Weights & Biases as one report-ready run.

Offline by default: `WANDB_MODE` is respected and defaults to `offline` (upload later with
`wandb sync <WANDB_DIR>/wandb/offline-run-*`). wandb is an optional extra (`pip install vadbench[wandb]`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from vadbench.leaderboard.board import Table


def log_leaderboard(tables: Sequence[Table], plots: Sequence[Path], project: str = "vadbench",
                    name: str = "leaderboard", config: dict | None = None) -> str:
    """Create a wandb run holding one `wandb.Table` per comparison table and one image per plot.

    Returns the run's local directory (what `wandb sync` takes when offline).
    """
    try:
        import wandb
    except ImportError as err:
        raise RuntimeError("`--wandb` needs the wandb package: pip install 'vadbench[wandb]' (or pip install wandb)") from err
    mode = os.environ.get("WANDB_MODE", "offline")
    run = wandb.init(project=project, name=name, job_type="leaderboard", mode=mode, config=config or {},
                     dir=os.environ.get("WANDB_DIR") or None, reinit=True)
    try:
        payload = {}
        for t in tables:
            key = "table/" + t.title.replace(" ", "_")
            payload[key] = wandb.Table(columns=list(t.header), data=[list(map(str, r)) for r in t.rows])
        for p in plots:
            payload["plot/" + Path(p).stem] = wandb.Image(str(p))
        run.log(payload)
        run.summary["num_tables"] = len(tables)
        run.summary["num_plots"] = len(plots)
        run_dir = str(Path(run.dir).parent)
    finally:
        run.finish()
    return run_dir
