"""Compare a packaged config's resolved values (`--print_config`) with the snapshot taken before the
compose refactor (tests/data/config_snapshot_before/<model>_<dataset>.yaml).

Paths are flattened with `init_args` removed (`model.init_args.net.init_args.k` -> `model.net.k`).
A test supplies `moved`: old flattened path -> new flattened path (or None: dropped on purpose, with
a reason in the test), for parameters that moved into a nested part (net, loss, optimizer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SNAPSHOT_DIR = Path(__file__).parent / "data" / "config_snapshot_before"


def snapshot_names() -> list[str]:
    """Packaged config names that have a snapshot (`rtfm/ucf_crime.yaml`, ...)."""
    out = []
    for p in sorted(SNAPSHOT_DIR.glob("*.yaml")):
        model, _, dataset = p.stem.partition("__")
        out.append(f"{model}/{dataset}.yaml")
    return out


def snapshot(name: str) -> dict:
    model, dataset = name[:-5].split("/")
    return yaml.safe_load((SNAPSHOT_DIR / f"{model}__{dataset}.yaml").read_text())


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted leaf paths, `init_args` levels removed; lists and scalars are leaves."""
    if not isinstance(cfg, dict):
        return {prefix: cfg}
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key == "init_args":
            out.update(flatten(value, prefix))
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def differences(old: dict, new: dict, moved: dict[str, str | None]) -> list[str]:
    """Human-readable differences between flattened old and new configs (empty = equal)."""
    old_f, new_f = flatten(old), flatten(new)
    problems = []
    for path, value in old_f.items():
        target = moved.get(path, path)
        if target is None:
            continue
        if target not in new_f:
            problems.append(f"{path}: {value!r} before, absent now (looked for {target})")
        elif new_f[target] != value:
            problems.append(f"{path}: {value!r} before, {new_f[target]!r} now (at {target})")
    return problems
