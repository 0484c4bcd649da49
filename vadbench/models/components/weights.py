"""The one weight loader: local weight files and checkpoints into modules, errors naming the file.

Used by the few-shot ResNets (`components/backbones.build_resnet`), the extraction backbones
(`vadbench.features.backbones.load_weights`) and commands that read a Lightning checkpoint
(`read_state_dict`). Nothing is downloaded: every path is a local file.

- `read_state_dict(path)`: a flat `{name: tensor}` from a bare state dict or one nested under
  `state_dict` / `model` / `net` (a Lightning checkpoint has `state_dict`).
- `normalise_state_dict(raw, path, drop=...)`: strips one wrapper prefix (`module.`, `backbone.`,
  `model.`, `net.`) when every key has it, drops the given classifier keys and BatchNorm's
  `num_batches_tracked` counters.
- `load_weights(module, path, drop=..., allow_unexpected=...)`: the two above, then a strict check
  (every tensor the module expects present with its shape) before loading.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vadbench.errors import VadbenchError

WRAPPER_PREFIXES = ("module.", "backbone.", "model.", "net.")
NESTING_KEYS = ("state_dict", "model", "net")


class WeightsError(VadbenchError, ValueError):
    """A weight file or checkpoint that is missing, unreadable or does not fit the module."""


def read_checkpoint(path: str | Path, trusted: bool = False) -> object:
    """`torch.load` of a local file on the CPU; `trusted=True` allows pickled objects (the user's own
    Lightning checkpoints), otherwise tensors and containers only (public weight files)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path} (a local file; nothing is downloaded)")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as err:  # noqa: BLE001 - torch raises several types on non-checkpoint files
        raise WeightsError(f"weights file {path} is not a readable torch checkpoint: {err}") from err


def unnest(raw: object, path: str | Path) -> dict:
    """The state dict inside `raw`: itself, or the dict under `state_dict` / `model` / `net`."""
    if not isinstance(raw, dict):
        raise WeightsError(f"weights file {path}: expected a state dict, got {type(raw).__name__}")
    for key in NESTING_KEYS:
        if key in raw and isinstance(raw[key], dict):
            return raw[key]
    return raw


def read_state_dict(path: str | Path, trusted: bool = False) -> dict[str, torch.Tensor]:
    """`{name: tensor}` of a weight file or Lightning checkpoint (see `unnest`)."""
    state = {k: v for k, v in unnest(read_checkpoint(path, trusted), path).items() if isinstance(v, torch.Tensor)}
    if not state:
        raise WeightsError(f"weights file {path}: holds no tensors")
    return state


def normalise_state_dict(raw: dict, path: str | Path, drop: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Unwrap a checkpoint into a plain state dict of the trunk (see the module docstring)."""
    state = {k: v for k, v in unnest(raw, path).items() if isinstance(v, torch.Tensor)}
    if not state:
        raise WeightsError(f"weights file {path}: holds no tensors")
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
            break
    return {k: v for k, v in state.items() if not k.startswith(drop) and not k.endswith("num_batches_tracked")}


def load_weights(module: nn.Module, path: str | Path, drop: tuple[str, ...] = (), allow_unexpected: bool = True,
                 name: str | None = None) -> None:
    """Load a local weight file into `module`: every tensor of the module (except the `drop` prefixes
    and BatchNorm counters) must be in the file with its shape; tensors the module lacks are an error
    unless `allow_unexpected`. `name` names the module in errors (default: its class)."""
    path = Path(path).expanduser()
    state = normalise_state_dict(read_checkpoint(path), path, drop)
    expected = {k: v for k, v in module.state_dict().items()
                if not k.startswith(drop) and not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or wrong or (unexpected and not allow_unexpected):
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if wrong:
            k = wrong[0]
            detail.append(f"{len(wrong)} with the wrong shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                          f"{tuple(expected[k].shape)} expected)")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        raise WeightsError(f"weights file {path} does not fit backbone {name or type(module).__name__}: "
                           + "; ".join(detail))
    module.load_state_dict({**module.state_dict(), **{k: state[k] for k in expected}}, strict=True)
