"""Run a staged training schedule (SSRL step by step, MSIP's two stages) as a chain of `vadbench fit`.

Stage k fits the config with `patch_scales` = that stage's scales (set on the data, linked into the
model's net) and
`stage_checkpoint` = stage k-1's `last.ckpt`, tests it, and writes its result JSON with
`--setting <prefix><k>`. Extra arguments (`--trainer.max_steps=...`) go to every stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from vadbench.paths import load_config


def configured_scales(configs: list[str]) -> list[str]:
    """The data's `patch_scales` (the last stage's scales; linked into the model) of the merged configs."""
    scales = ((load_config(*configs).get("data") or {}).get("init_args") or {}).get("patch_scales")
    if not scales:
        raise ValueError(f"{configs}: data.init_args.patch_scales is empty; a staged schedule needs patch scales")
    return list(scales)


def step_by_step(scales: list[str]) -> list[list[str]]:
    """SSRL: clip only, then one more scale per stage: [], [s1], [s1, s2], ..."""
    return [list(scales[:i]) for i in range(len(scales) + 1)]


def two_stage(scales: list[str]) -> list[list[str]]:
    """MSIP: clip only (CTR + classifier), then every scale at once (MPSR)."""
    return [[], list(scales)]


def run_schedule(configs: list[str], stages: list[list[str]], out_dir: str | Path, extra_args: list[str],
                 setting_prefix: str = "stage", first_checkpoint: str | None = None) -> list[dict]:
    """Fit and test every stage in order; returns one dict per stage (scales, checkpoint, test metrics)."""
    from vadbench.cli import run_cli

    out_dir = Path(out_dir)
    previous = first_checkpoint
    summary = []
    for k, scales in enumerate(stages, start=1):
        stage_dir = out_dir / f"{setting_prefix}{k}"
        args = ["fit", *[a for c in configs for a in ("--config", c)], *extra_args,
                f"--data.init_args.patch_scales={json.dumps(scales)}",
                f"--model.init_args.stage_checkpoint={previous if previous else 'null'}",
                f"--trainer.default_root_dir={stage_dir}",
                f"--checkpoint.dirpath={stage_dir / 'checkpoints'}",
                f"--setting={setting_prefix}{k}"]
        print(f"vadbench: stage {k}/{len(stages)}: patch scales {scales or '(clip only)'}"
              + (f", starting from {previous}" if previous else ""))
        cli = run_cli(args)
        last = stage_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise FileNotFoundError(f"stage {k} wrote no {last}; cannot start stage {k + 1}")
        metrics = {k2.split("/", 1)[1]: float(v) for k2, v in cli.trainer.callback_metrics.items()
                   if k2.startswith("test/")}
        summary.append({"stage": k, "patch_scales": scales, "checkpoint": str(last), "test": metrics})
        previous = str(last)
    (out_dir / "schedule.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def schedule_main(argv: list[str], model: str, make_stages) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog=f"vadbench {model}_schedule",
                                     description=f"Run {model.upper()}'s staged training; extra args go to every stage")
    parser.add_argument("--config", action="append", required=True,
                        help="the model's config (its patch_scales = last stage's); may repeat")
    parser.add_argument("--scales", nargs="+", default=None, help="patch scales in the order they are added")
    parser.add_argument("--out", default=None, help=f"stage folders (default runs/{model}_schedule)")
    parser.add_argument("--first_checkpoint", default=None,
                        help="stage-1 weights to start from (e.g. an RTFM checkpoint), else trained from scratch")
    args, extra = parser.parse_known_args(argv)
    scales = args.scales or configured_scales(args.config)
    summary = run_schedule(args.config, make_stages(scales), args.out or f"runs/{model}_schedule", extra,
                           first_checkpoint=args.first_checkpoint)
    for row in summary:
        auc = row["test"].get("frame_auc_micro")
        print(f"stage {row['stage']}: {row['patch_scales'] or ['clip']}: frame AUC (micro) "
              f"{auc if auc is None else round(auc, 4)}")
    return 0
