"""Compare a packaged config's resolved values (`--print_config`) with the snapshot taken before the
compose refactor (tests/data/config_snapshot_before/<model>_<dataset>.yaml).

Paths are flattened with `init_args` removed (`model.init_args.net.init_args.k` -> `model.net.k`).
A test supplies `moved`: old flattened path -> new flattened path (or None: dropped on purpose, with
a reason in the test), for parameters that moved into a nested part (net, loss, optimizer), and
`changed`: new flattened path -> (value before, value now) for the values changed on purpose (issue
#12: the official-code recipes became the defaults); `ABSENT` as the value before = a key the
snapshot did not have. Any other change, and a changed value that is not the one listed, still fails.
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


ABSENT = "<absent>"


def differences(old: dict, new: dict, moved: dict[str, str | None],
                changed: dict[str, tuple[Any, Any]] | None = None) -> list[str]:
    """Human-readable differences between flattened old and new configs (empty = equal), except the
    intentional changes listed in `changed` (which must then hold exactly)."""
    old_f, new_f = flatten(old), flatten(new)
    changed = changed or {}
    problems = []
    for path, value in old_f.items():
        target = moved.get(path, path)
        if target is None:
            continue
        expected = value
        if target in changed:
            before, expected = changed[target]
            if before != value:
                problems.append(f"{path}: the map of intentional changes expects {before!r} before, "
                                f"the snapshot has {value!r}")
        if isinstance(expected, dict) and expected:   # a mapping now: its flattened leaves must all hold
            leaves = flatten(expected, target)
            got = {k: new_f.get(k, ABSENT) for k in leaves}
            if got != leaves or any(k.startswith(target + ".") and k not in leaves for k in new_f):
                problems.append(f"{path}: {value!r} before, expected {expected!r} now (intentional change), "
                                f"got {got!r}")
        elif target not in new_f:
            problems.append(f"{path}: {value!r} before, absent now (looked for {target})")
        elif new_f[target] != expected:
            problems.append(f"{path}: {value!r} before, {new_f[target]!r} now (at {target})"
                            + (f"; expected {expected!r} (intentional change)" if target in changed else ""))
    for target, (before, expected) in changed.items():
        if before == ABSENT and new_f.get(target, ABSENT) != expected:
            problems.append(f"{target}: new key, expected {expected!r}, got {new_f.get(target, ABSENT)!r}")
    return problems
