"""Authors' released checkpoints through `vadbench test --ckpt_path <file>`.

An official checkpoint is usually the bare `state_dict` of the authors' network saved with
`torch.save` (UR-DMU's `ucf_trans_2022.pkl` / `xd_trans_2022.pkl`, BN-WVAD's `xd_best.pkl`), not a
Lightning checkpoint. A LightningModule class that can read its authors' files declares the key map
its golden tests prove:

    @classmethod
    def official_key_map(cls) -> dict[str, str] | None:   # official module name -> ours (under the module)
        return {"Amemory": "model.abnormal_memory", ...}

(`components.crop_instance_module.CropInstanceMILModule` declares it from its core's map.)

`lightning_checkpoint_from_official(class_path, path)` (called by the CLI before anything reads the
checkpoint): when `path` holds a bare state dict (read with `weights_only`, tensors only) and the
class declares a map, every key is renamed through the map (module name replaced, parameter name
kept; a key with no counterpart is an error naming it) and written as a minimal Lightning checkpoint
(`state_dict` only, no hyper-parameters, so the config's model options stay) in a temporary folder
removed at exit. Lightning then loads it strictly: a model configured differently from the authors'
network is refused with the missing / unexpected keys. The result file records the official path and
`model_selection: authors_checkpoint` (see `vadbench.trainer_cli`).
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import tempfile
from pathlib import Path

import torch

from vadbench.models.components.weights import WeightsError, read_checkpoint

AUTHORS_SELECTION = "authors_checkpoint"   # `model_selection` of a result tested on an authors' checkpoint


def rename_official(key: str, key_map: dict[str, str]) -> str:
    """`<official module>.<leaf>` -> `<our module>.<leaf>`; a module the map lacks is an error."""
    module, _, leaf = key.rpartition(".")
    if module not in key_map:
        raise WeightsError(f"official key {key!r} has no counterpart in the key map")
    return f"{key_map[module]}.{leaf}"


def convert_official_state(state: dict[str, torch.Tensor], key_map: dict[str, str], path: str | Path = "") -> dict:
    """The official `state_dict` under our names (tensors as stored)."""
    out = {}
    for key, value in state.items():
        try:
            out[rename_official(key, key_map)] = value
        except WeightsError as err:
            raise WeightsError(f"official checkpoint {path}: {err}") from None
    return out


def _module_class(class_path: str | None) -> type | None:
    if not class_path or "." not in str(class_path):
        return None
    module, _, name = str(class_path).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _temp_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="vadbench-official-ckpt-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def lightning_checkpoint_from_official(class_path: str | None, path: str | Path) -> Path | None:
    """A Lightning checkpoint holding the official file's weights under our names, or None when `path`
    is a Lightning checkpoint already, not a bare state dict, or the class declares no key map."""
    cls = _module_class(class_path)
    key_map = getattr(cls, "official_key_map", lambda: None)()
    path = Path(path).expanduser()
    if key_map is None or not path.is_file():
        return None
    try:
        raw = read_checkpoint(path)                 # tensors and containers only: an authors' file
    except WeightsError:
        return None                                 # e.g. a Lightning checkpoint with pickled objects
    if not isinstance(raw, dict) or "state_dict" in raw or not raw:
        return None
    if not all(isinstance(v, torch.Tensor) for v in raw.values()):
        return None
    import lightning

    state = {k: v for k, v in raw.items()}
    ckpt = {"state_dict": convert_official_state(state, key_map, path),
            "pytorch-lightning_version": lightning.__version__, "official_checkpoint": str(path.resolve())}
    out = _temp_dir() / f"{path.stem}.official.ckpt"
    torch.save(ckpt, out)
    return out
