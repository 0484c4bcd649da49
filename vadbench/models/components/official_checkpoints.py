"""Authors' released checkpoints through `vadbench test --config <model>/<dataset>.yaml --ckpt_path FILE`.

An official code saves a bare `state_dict` (MGFN's `mgfn_ucf.pkl`, UR-DMU's `*_trans_2022.pkl`,
RTFM's `.pkl`) in its own key names. A LightningModule that can read one mixes in
`OfficialCheckpointMixin` and defines

    official_checkpoint_format: str          # what such a file is, for the result JSON
    @classmethod
    def convert_official_state_dict(cls, state: dict) -> dict   # official names -> `self.model` names

(the key map its golden tests prove). The CLI wraps the file, once the run folder exists, into a
Lightning checkpoint there (`wrap_official_checkpoint`) holding the official tensors untouched; when
Lightning loads it, `on_load_checkpoint` converts them, checks every key and shape against the model
(an error names the file and what does not fit) and the result JSON records
`extras.weights = {"source": "authors' checkpoint", "file", "sha256", "format"}`. A Lightning
checkpoint (`vadbench fit`'s) is never touched.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import lightning as L
import torch

from vadbench.models.components.weights import WeightsError, normalise_state_dict

OFFICIAL_KEY = "vadbench_official_checkpoint"
AUTHORS = "authors' checkpoint"


def official_reader(class_path: str | None) -> type | None:
    """The LightningModule class at `class_path` if it reads official checkpoints, else None."""
    if not class_path or "." not in class_path:
        return None
    module, name = class_path.rsplit(".", 1)
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return cls if callable(getattr(cls, "convert_official_state_dict", None)) else None


def _load(path: str | Path) -> object | None:
    try:
        return torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not a readable tensor file: the CLI's own checks report it
        return None


def is_official_checkpoint(path: str | Path, class_path: str | None) -> bool:
    """True when the model reads official checkpoints and `path` is a tensor file that is not a
    Lightning checkpoint (no `pytorch-lightning_version`)."""
    if official_reader(class_path) is None or not Path(path).expanduser().is_file():
        return False
    raw = _load(path)
    return isinstance(raw, dict) and "pytorch-lightning_version" not in raw


def wrap_official_checkpoint(path: str | Path, out_dir: str | Path) -> Path:
    """Write `out_dir/official_<name>.ckpt`: a Lightning checkpoint carrying the official tensors
    (unconverted; `OfficialCheckpointMixin.on_load_checkpoint` converts them) and their provenance."""
    path = Path(path).expanduser().resolve()
    state = normalise_state_dict(_load(path), path)          # a `module.` prefix (DataParallel) is stripped
    out = Path(out_dir) / f"official_{path.stem}.ckpt"
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "state": state}
    torch.save({"pytorch-lightning_version": L.__version__, "state_dict": {}, OFFICIAL_KEY: info}, out)
    return out


class OfficialCheckpointMixin:
    """For a LightningModule (before it in the bases) that defines `convert_official_state_dict`."""

    official_checkpoint_format = "the official code's state_dict"
    official_weights: dict | None = None

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        info = checkpoint.get(OFFICIAL_KEY)
        if info is not None:
            try:
                converted = self.convert_official_state_dict(info["state"])
            except (KeyError, ValueError) as err:
                raise WeightsError(f"--ckpt_path {info['file']}: not {self.official_checkpoint_format}: {err}") from err
            own = {k: v for k, v in self.state_dict().items() if k.startswith("model.")}
            mapped = {f"model.{k}": v for k, v in converted.items()}
            missing = sorted(k for k in set(own) - set(mapped) if not k.endswith("num_batches_tracked"))
            unexpected = sorted(set(mapped) - set(own))
            wrong = sorted(k for k in set(own) & set(mapped) if tuple(own[k].shape) != tuple(mapped[k].shape))
            if missing or unexpected or wrong:
                detail = [f"{len(missing)} of this model's tensors missing (e.g. {missing[:3]})" if missing else "",
                          f"{len(unexpected)} not in this model (e.g. {unexpected[:3]})" if unexpected else "",
                          (f"{len(wrong)} with another shape (e.g. {wrong[0]}: {tuple(mapped[wrong[0]].shape)} in the "
                           f"file, {tuple(own[wrong[0]].shape)} expected)") if wrong else ""]
                raise WeightsError(f"--ckpt_path {info['file']}: as {self.official_checkpoint_format} it does not fit "
                                   f"{type(self).__name__} as configured: " + "; ".join(d for d in detail if d))
            checkpoint["state_dict"] = {**self.state_dict(), **{k: v.to(own[k].dtype) for k, v in mapped.items()}}
            self.official_weights = {"source": AUTHORS, "file": info["file"], "sha256": info["sha256"],
                                     "format": self.official_checkpoint_format}
        super_hook = getattr(super(), "on_load_checkpoint", None)
        if super_hook is not None:
            super_hook(checkpoint)

    def official_weights_metadata(self) -> dict:
        """`{"weights": {...}}` for `result_metadata` when the weights came from an official file."""
        return {"weights": self.official_weights} if self.official_weights else {}
