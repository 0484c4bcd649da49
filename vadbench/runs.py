"""Run folders, checkpoint checks and exact resume for the trainer verbs.

- `make_run_dir`: every `vadbench fit|test|...` gets its own folder
  `<default_root_dir>/<model>/<dataset>/<setting>/seed<k>-<UTC time>-<pid>-<random>` (other verbs:
  `<verb>-seed<k>-...`), created with an exclusive `mkdir`, so two runs started together with the
  same `default_root_dir` never share a logger version or a `last.ckpt`. DDP worker processes
  (which Lightning starts by re-running the command) reuse their launcher's folder.
- `check_checkpoint`: a `--ckpt_path` that is missing, truncated or not a Lightning checkpoint is
  refused before anything runs.
- `RNGStateCallback`: checkpoints carry the torch, numpy, python and CUDA RNG states; a resumed run
  puts them back when training starts, before the first batch, so dropout, RTFM's random top-k exclusion
  and any other global draw continue exactly as in an uninterrupted run. Together with the
  resumable training loader (`vadbench.data.samplers.ResumableDataLoader`: the position in the
  epoch) and Lightning's own loop/optimizer state, a run killed anywhere (mid-epoch or at an epoch
  end) and resumed with `--ckpt_path .../last.ckpt` ends bit-identical to an uninterrupted run on CPU.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from vadbench.errors import CheckpointError

RUN_DIR_ENV = "VADBENCH_RUN_DIR"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", str(text)).strip("-") or "x"


def _is_ddp_worker() -> bool:
    """A process Lightning started for rank > 0 by re-running the command (it inherits our env)."""
    return os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"


def make_run_dir(root: str | Path, model: str, dataset: str, setting: str, seed, verb: str = "fit") -> Path:
    """Create (exclusively) and return this run's folder; see the module docstring."""
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited and _is_ddp_worker() and Path(inherited).is_dir():
        return Path(inherited)
    parent = Path(root).expanduser() / _slug(model) / _slug(dataset) / _slug(setting)
    parent.mkdir(parents=True, exist_ok=True)
    prefix = ("" if verb == "fit" else f"{verb}-") + f"seed{_slug(seed)}"
    for _ in range(100):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = parent / f"{prefix}-{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            path.mkdir()  # exclusive: fails if another run took this name
        except FileExistsError:
            continue
        os.environ[RUN_DIR_ENV] = str(path.resolve())
        return path.resolve()
    raise FileExistsError(f"could not create a new run folder under {parent}")


def remove_unused_run_dir(run_dir: str | Path) -> bool:
    """Remove a failed run's folder when it holds nothing a user could want (no checkpoint, no
    predictions, no logged step: only config.yaml, hparams.yaml, empty logs), then its empty parents
    (`<setting>/`, `<dataset>/`, `<model>/` and the root itself). Returns whether it was removed."""
    import shutil

    run_dir = Path(run_dir)
    if _is_ddp_worker() or not run_dir.is_dir():
        return False
    for f in run_dir.rglob("*"):
        if not f.is_file():
            continue
        if f.suffix == ".ckpt" or "predictions" in f.relative_to(run_dir).parts:
            return False
        if f.name == "metrics.csv" and len(f.read_text(encoding="utf-8", errors="replace").splitlines()) > 1:
            return False
    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in list(run_dir.parents)[:4]:
        try:
            parent.rmdir()   # only when empty
        except OSError:
            break
    return True


def synthetic_locations(datamodule) -> list[Path]:
    """The folders of the synthetic data sets a datamodule reads (generated on first use), for the log."""
    out = []
    if getattr(datamodule, "data_source", None) != "synthetic":
        return out
    if hasattr(datamodule, "root_dir"):                  # MIL features
        out.append(Path(datamodule.root_dir))
    elif hasattr(datamodule, "_root"):                   # few-shot videos: train and test sets
        for ds, root in ((datamodule.dataset_id, datamodule.root), (datamodule.test_dataset_id, datamodule.test_root)):
            if ds == "synthetic":
                out.append(Path(datamodule._root(ds, root)))
    return list(dict.fromkeys(p.resolve() for p in out))


def check_checkpoint(path: str | Path, option: str = "--ckpt_path") -> None:
    """Refuse a checkpoint Lightning could not load, naming the file and what was expected."""
    if str(path) in ("last", "best", "hpc", "registry") or str(path).startswith("registry:"):
        return  # Lightning's own names, resolved by the trainer
    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"{option} {p}: checkpoint file not found")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{option} {p}: the checkpoint file is empty")
    if zipfile.is_zipfile(p):
        try:
            with zipfile.ZipFile(p) as zf:
                bad = zf.testzip()  # CRC of every member: finds a truncated or damaged file
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise CheckpointError(f"{option} {p}: the checkpoint is damaged ({err}); expected a Lightning .ckpt "
                                  f"file written by `vadbench fit`") from err
        if bad is not None:
            raise CheckpointError(f"{option} {p}: the checkpoint is damaged (member {bad} fails its CRC check)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False, mmap=zipfile.is_zipfile(p))
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... on a bad file
        raise CheckpointError(f"{option} {p}: not a readable checkpoint (truncated or not a torch file: "
                              f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); expected "
                              f"a Lightning .ckpt file written by `vadbench fit`") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{option} {p}: a torch file but not a Lightning checkpoint (no 'state_dict'); "
                              f"expected a .ckpt file written by `vadbench fit`")


def _rng_state() -> dict:
    """The global RNG states as tensors and plain lists (loadable with `torch.load(weights_only=True)`)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
             "python": {"version": int(version), "internal": list(internal), "gauss_next": gauss_next}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RNGStateCallback(Callback):
    """Saves the global RNG states in every checkpoint; restores them when the resumed training starts.

    Restoring is deferred to `on_train_start` (after the checkpoint is loaded, the loaders built
    and the sanity check run; before the first batch is fetched) so that nothing Lightning does
    in between can shift the streams. The vadbench loaders have private generators, so iterating
    them draws nothing from the global RNG. Per-rank: each process stores and restores its own.
    """

    def __init__(self):
        self._pending: dict | None = None

    @property
    def state_key(self) -> str:
        return "vadbench.RNGState"

    def state_dict(self) -> dict:
        return {"rank_states": {int(os.environ.get("RANK", 0)): _rng_state()}}

    def load_state_dict(self, state_dict: dict) -> None:
        states = state_dict.get("rank_states", {})
        self._pending = states.get(int(os.environ.get("RANK", 0)))

    def on_train_start(self, trainer, pl_module) -> None:
        if self._pending is not None:
            _set_rng_state(self._pending)
            self._pending = None


# Values that exist on both the model and the datamodule and must be equal (written once when the
# configs link them; checked here in any case, before anything runs).
SHARED_VALUES = ("feature_dim", "patch_scales", "seq_len")


def check_model_data_agree(model, datamodule) -> None:
    """Refuse a model and a datamodule configured with different shared values, naming both options."""
    from vadbench.errors import ConfigError

    hparams = getattr(model, "hparams", {}) or {}
    for key in SHARED_VALUES:
        if key not in hparams or not hasattr(type(datamodule), key) and key not in vars(datamodule):
            continue
        mine = hparams[key]
        theirs = getattr(datamodule, key)
        if mine is None or theirs is None:
            continue
        norm = (lambda v: list(v) if isinstance(v, (list, tuple)) else v)
        if norm(mine) != norm(theirs):
            raise ConfigError(f"model.init_args.{key} is {norm(mine)!r} but data.init_args.{key} is {norm(theirs)!r} "
                              f"(the data's value, read from the feature files when not set); set both to the same value")
