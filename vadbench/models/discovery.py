"""Model discovery: a model is a folder, found by walking `vadbench/models/*/`; no file lists the models.

A model folder holds `lightning_model.py` (its LightningModule(s)), `torch_model.py`, `loss.py`, a
`README.md` and a `metafile.yml` (paper, configs, published results, ablation overrides, reproducible
tables; read by `vadbench.leaderboard.metafile`). Folders without `lightning_model.py` (shared code such
as `components/`) are not models.

Extra folders of model packages (a user's own models, a test's throw-away model) are named in the
environment variable `VADBENCH_MODEL_DIRS` (os.pathsep-separated) or passed as `extra_dirs`: each holds
`<model>/lightning_model.py`, ... and is put on `sys.path`, so the model imports as `<model>` (a config
then says `class_path: <model>.lightning_model.<Class>`).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

MODELS_DIR = Path(__file__).resolve().parent
MODEL_DIRS_ENV = "VADBENCH_MODEL_DIRS"
METAFILE_NAME = "metafile.yml"


@dataclass(frozen=True)
class ModelFolder:
    """One model: its id (the folder name), folder and import name (`vadbench.models.rtfm`)."""

    name: str
    folder: Path
    package: str

    @property
    def metafile(self) -> Path:
        return self.folder / METAFILE_NAME


def extra_model_dirs(extra_dirs: Iterable[str | Path] | None = None) -> list[Path]:
    """The extra model folders: `extra_dirs`, else those in $VADBENCH_MODEL_DIRS (each must exist)."""
    if extra_dirs is None:
        extra_dirs = [p for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    out = []
    for d in extra_dirs:
        path = Path(d).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"model folder {path} (from {MODEL_DIRS_ENV} or extra_dirs) does not exist; "
                                    f"expected a folder holding <model>/lightning_model.py")
        out.append(path)
    return out


def add_extra_dirs_to_path(extra_dirs: Iterable[str | Path] | None = None) -> list[Path]:
    """Put the extra model folders on `sys.path` (so configs can name their classes); returns them."""
    dirs = extra_model_dirs(extra_dirs)
    for d in dirs:
        if str(d) not in sys.path:
            sys.path.insert(0, str(d))
    return dirs


def model_folders(extra_dirs: Iterable[str | Path] | None = None) -> list[ModelFolder]:
    """Every model folder: the packaged ones (sorted by name), then those of the extra folders."""
    found = [ModelFolder(p.parent.name, p.parent, f"vadbench.models.{p.parent.name}")
             for p in sorted(MODELS_DIR.glob("*/lightning_model.py")) if not p.parent.name.startswith("_")]
    for d in extra_model_dirs(extra_dirs):
        found += [ModelFolder(p.parent.name, p.parent, p.parent.name)
                  for p in sorted(d.glob("*/lightning_model.py")) if not p.parent.name.startswith("_")]
    names = [m.name for m in found]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError("model id(s) " + ", ".join(clashes) + " found in more than one folder: "
                         + "; ".join(str(m.folder) for m in found if m.name in clashes))
    return found


def metafiles(extra_dirs: Iterable[str | Path] | None = None) -> list[Path]:
    """The `metafile.yml` beside each model (models without one are left out)."""
    return [m.metafile for m in model_folders(extra_dirs) if m.metafile.is_file()]


def lightning_modules(extra_dirs: Iterable[str | Path] | None = None) -> dict[str, type]:
    """{"<module>.<Class>": class} of every model LightningModule: defined in a model folder's
    `lightning_model.py` and naming its own `model_id` (the id its result files carry); shared bases
    defined there without one (`StagedMILModule`) are not models."""
    import lightning as L

    if extra_dirs is not None or os.environ.get(MODEL_DIRS_ENV):
        add_extra_dirs_to_path(extra_dirs)
    out: dict[str, type] = {}
    for m in model_folders(extra_dirs):
        module = importlib.import_module(f"{m.package}.lightning_model")
        for name, obj in sorted(vars(module).items()):
            if (inspect.isclass(obj) and issubclass(obj, L.LightningModule) and obj.__module__ == module.__name__
                    and not name.startswith("_") and not inspect.isabstract(obj)
                    and isinstance(vars(obj).get("model_id"), str)):
                out[f"{module.__name__}.{name}"] = obj
    return out


# The synthetic experiment every model ships (INTERFACES: MIL `<model>/synthetic.yaml`, few-shot
# `<model>/synthetic_5w1s.yaml`): what `vadbench bench gpu` and the device/precision tests build.
SYNTHETIC_EXPERIMENTS = ("synthetic.yaml", "synthetic_5w1s.yaml")


def model_folder_of(cls: type, extra_dirs: Iterable[str | Path] | None = None) -> ModelFolder:
    """The model folder that defines LightningModule `cls`."""
    package = cls.__module__.rsplit(".", 1)[0]
    for m in model_folders(extra_dirs):
        if m.package == package:
            return m
    raise LookupError(f"{cls.__module__}.{cls.__name__} is not defined in a model folder")


def synthetic_experiment(model: ModelFolder) -> Path:
    """The model's synthetic experiment config: `configs/<model>/synthetic.yaml` (MIL) or
    `configs/<model>/synthetic_5w1s.yaml` (few-shot), packaged or in the model folder's `configs/`
    (a model from $VADBENCH_MODEL_DIRS). Missing: FileNotFoundError naming the paths tried."""
    from vadbench.paths import CONFIGS_DIR

    tried = [base / name for base in (CONFIGS_DIR / model.name, model.folder / "configs") for name in SYNTHETIC_EXPERIMENTS]
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(f"model {model.name!r} ({model.folder}) has no synthetic experiment config; expected one of "
                            + ", ".join(str(p) for p in tried))
