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
