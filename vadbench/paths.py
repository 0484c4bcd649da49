"""Where the packaged configs and data manifests live, and how a user's config name is resolved."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
# Configs and manifests ship inside the package (the repository root has symlinks to them).
CONFIGS_DIR = PACKAGE_DIR / "configs"
MANIFESTS_DIR = PACKAGE_DIR / "data_manifests"
LEADERBOARDS_DIR = REPO_DIR / "leaderboards"

# Short dataset names people type in config names: `ssrl_ucf.yaml` -> configs/ssrl/ucf_crime.yaml.
DATASET_ALIASES = {
    "ucf": "ucf_crime",
    "ucfcrime": "ucf_crime",
    "sh": "shanghaitech",
    "sht": "shanghaitech",
    "shanghai": "shanghaitech",
    "ped2": "ucsd_ped2",
    "ucsd": "ucsd_ped2",
    "synth": "synthetic",
    "k100": "kinetics100",
    "kinetics": "kinetics100",
    "hmdb": "hmdb51",
    "ucf_v2": "ucf_crime_v2",
    "ucfv2": "ucf_crime_v2",
}


def default_data_home() -> Path:
    """Folder for generated data (synthetic datasets): $VADBENCH_HOME or ~/.cache/vadbench."""
    return Path(os.environ.get("VADBENCH_HOME", Path.home() / ".cache" / "vadbench"))


def resolve_config(name: str) -> Path:
    """Resolve a `--config` value: an existing path wins, else a packaged config.

    Accepted packaged forms: ``rtfm/ucf_crime.yaml``, ``configs/rtfm/ucf_crime.yaml``,
    ``rtfm_ucf_crime.yaml``, ``ssrl_ucf.yaml`` (dataset aliases), ``trainer/cpu.yaml``.
    Raises FileNotFoundError listing what was tried.
    """
    path = Path(name).expanduser()
    if path.is_file():
        return path.resolve()
    tried = [str(path)]
    rel = Path(*path.parts[1:]) if path.parts and path.parts[0] == "configs" else path
    candidates = [CONFIGS_DIR / rel]
    stem = rel.name[:-5] if rel.name.endswith(".yaml") else rel.name[:-4] if rel.name.endswith(".yml") else rel.name
    if rel.parent == Path(".") and "_" in stem:
        # <model>_<dataset>[_<setting>]: try each split point, longest model name first.
        parts = stem.split("_")
        for i in range(len(parts) - 1, 0, -1):
            model, rest = "_".join(parts[:i]), "_".join(parts[i:])
            candidates.append(CONFIGS_DIR / model / f"{rest}.yaml")
            for alias, full in sorted(DATASET_ALIASES.items(), key=lambda kv: -len(kv[0])):
                if rest == alias or rest.startswith(alias + "_"):
                    candidates.append(CONFIGS_DIR / model / f"{full + rest[len(alias):]}.yaml")
                    break
    for cand in candidates:
        tried.append(str(cand))
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"config {name!r} is neither a file nor a packaged config; tried: {', '.join(tried)}. "
        f"Packaged configs are listed by `vadbench configs`."
    )


def list_configs() -> list[str]:
    return sorted(str(p.relative_to(CONFIGS_DIR)) for p in CONFIGS_DIR.rglob("*.yaml"))


# ---------------------------------------------------------------- composed configs
# A named experiment (`configs/ssrl/ucf_crime.yaml`) composes parts with a top-level `compose:` list
# (model, data, recipe, shot overlays; packaged names or paths relative to the experiment file),
# applied in order before the experiment's own keys, exactly as repeated `--config` options are.

COMPOSE_KEY = "compose"


def _compose_part(entry: str, base: Path) -> Path:
    local = (base / entry).expanduser()
    if local.is_file():
        return local.resolve()
    return resolve_config(entry)


def expand_config(name: str | Path, _seen: tuple[Path, ...] = ()) -> list[Path | str]:
    """The `--config` values one config stands for: its parts (recursively), then its own keys.

    Returns paths for files used as they are, and a YAML string for an experiment's own keys
    (its `compose:` list removed). A config without `compose:` expands to its own path.
    """
    import yaml

    path = resolve_config(str(name))
    if path in _seen:
        raise ValueError(f"config {path} composes itself (cycle: {' -> '.join(map(str, _seen + (path,)))})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or COMPOSE_KEY not in data:
        return [path]
    parts = data.pop(COMPOSE_KEY)
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise ValueError(f"{path}: `{COMPOSE_KEY}:` must be a list of config names or relative paths, got {parts!r}")
    out: list[Path | str] = []
    for entry in parts:
        out += expand_config(_compose_part(entry, path.parent), _seen + (path,))
    if data:
        out.append(yaml.safe_dump(data, sort_keys=False))
    return out


def _deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            # a new class_path replaces the old init_args, as jsonargparse does
            if "class_path" in value and value.get("class_path") != out[key].get("class_path"):
                out[key] = value
            else:
                out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(*names: str | Path) -> dict:
    """The plain merged dict of one or more (composed) configs, for code that reads a value without
    building the LightningCLI (schedules, `reproduce` plans). Later configs override earlier ones."""
    import yaml

    merged: dict = {}
    for name in names:
        for part in expand_config(name):
            data = yaml.safe_load(part.read_text(encoding="utf-8") if isinstance(part, Path) else part) or {}
            merged = _deep_merge(merged, data)
    return merged
