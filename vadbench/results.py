"""Result JSON files: one per test run, never overwritten.

Schema (version 1), shared by every pipeline and read by the leaderboard:

    {
      "schema": 1,
      "model": "rtfm",                      # model id (the LightningModule's `model_id`)
      "model_class": "vadbench.models.rtfm.RTFM",
      "dataset": "ucf_crime",               # dataset id (snake_case, as in configs/manifests)
      "setting": "default",                 # run tag: an ablation or few-shot setting ("5w1s")
      "metrics": {"frame_auc_micro": 0.84, ...},   # bare metric names, no stage prefix
      "model_selection": "last" | "best_val" | "oracle_best_on_test",
      "data_source": "real" | "synthetic",
      "backbone": "pretrained" | "random_init" | null,
      "seed": 0,
      "config": {...},                      # the fully resolved config, with the values the run used
                                            # (`run_facts` that are options: see record_used_values)
      "run_facts": {...},                   # what the evaluation used, whatever the config said: MIL
                                            # frames_per_snippet (+ _from: config / sidecars / default),
                                            # feature_dim, ucf_frame_numbering, ground_truth file
      "git_revision": "abc123" | null,
      "data_fingerprint": "sha256:..." | null,
      "ckpt_path": "..." | null,
      "extras": {...},                      # model/data specific additions (score gaps, CI, ...)
      "created": "2026-11-23T18:00:00+00:00",
      "vadbench_version": "0.1.0"
    }
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vadbench import __version__
from vadbench.paths import REPO_DIR

SCHEMA_VERSION = 1


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_DIR, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    rev = out.stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_DIR,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return rev + ("-dirty" if dirty else "")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return _jsonable(obj.item())
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    return str(obj)


def make_record(
    *,
    model: str,
    model_class: str,
    dataset: str,
    metrics: dict[str, float],
    model_selection: str,
    data_source: str,
    seed: int | None,
    config: dict | None = None,
    setting: str = "default",
    backbone: str | None = None,
    data_fingerprint: str | None = None,
    ckpt_path: str | None = None,
    extras: dict | None = None,
    run_facts: dict | None = None,
) -> dict:
    run_facts = dict(run_facts or {})
    config = record_used_values(copy.deepcopy(config or {}), run_facts)
    return _jsonable({
        "schema": SCHEMA_VERSION,
        "model": model,
        "model_class": model_class,
        "dataset": dataset,
        "setting": setting,
        "metrics": metrics,
        "model_selection": model_selection,
        "data_source": data_source,
        "backbone": backbone,
        "seed": seed,
        "config": config,
        "run_facts": run_facts,
        "git_revision": git_revision(),
        "data_fingerprint": data_fingerprint,
        "ckpt_path": ckpt_path,
        "extras": extras or {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "vadbench_version": __version__,
    })


def record_used_values(config: dict, run_facts: dict) -> dict:
    """Write into `config` (a resolved config as a dict) the values the run used: a run fact named like
    an option of the data or the model (`frames_per_snippet`, `feature_dim`, `ucf_frame_numbering`)
    replaces that option's configured value, so the recorded config never contradicts what was scored
    (the data's `frames_per_snippet: null` reads 8 when the sidecars gave 8, and the model's value,
    which the evaluation batches override, reads the same). Returns `config`."""
    for part in ("data", "model"):
        init_args = config.get(part, {}).get("init_args") if isinstance(config.get(part), dict) else None
        if not isinstance(init_args, dict):
            continue
        for key, value in run_facts.items():
            if key in init_args and value is not None:
                init_args[key] = value
    return config


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def write_record(results_dir: str | Path, record: dict) -> Path:
    """Write `record` to a new file under `results_dir`; an existing file is never overwritten."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    base = "__".join(_slug(str(p)) for p in (
        record["model"], record["dataset"], record.get("setting", "default"),
        f"seed{record.get('seed')}", stamp))
    for i in range(10_000):
        path = results_dir / (f"{base}.json" if i == 0 else f"{base}_{i}.json")
        try:
            with open(path, "x", encoding="utf-8") as fh:  # exclusive create: never overwrite
                json.dump(record, fh, indent=2, sort_keys=True)
                fh.write("\n")
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not find a free result file name under {results_dir}")


def load_records(paths: list[str | Path]) -> list[dict]:
    """Load result JSON files (files or folders searched recursively), with a clear error per bad file."""
    records = []
    for p in paths:
        p = Path(p)
        files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
        for f in files:
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise ValueError(f"result file {f} is not readable JSON: {err}") from err
            if not isinstance(rec, dict) or rec.get("schema") != SCHEMA_VERSION:
                raise ValueError(f"result file {f} is not a vadbench result (schema {SCHEMA_VERSION})")
            rec["_path"] = str(f)
            records.append(rec)
    return records
