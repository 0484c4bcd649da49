"""Helpers shared by the `vadbench bench` sub-commands: devices, timers, peak memory, output tables."""

from __future__ import annotations

import resource
import statistics
import time

import lightning as L
import torch


def devices(requested: str) -> list[torch.device]:
    """`auto` = the CPU, plus CUDA when available (the GPU column); else a comma list (`cpu,cuda`)."""
    if requested == "auto":
        names = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        names = [n.strip() for n in requested.split(",") if n.strip()]
    out = []
    for n in names:
        d = torch.device(n)
        if d.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit(f"vadbench bench: --device {n} requested but CUDA is not available")
        out.append(d)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now(device: torch.device) -> float:
    """A wall-clock reading after the device's queued work has finished."""
    sync(device)
    return time.perf_counter()


def step_intervals(ends: list[float], warmup: int) -> list[float]:
    """Step times from step-end readings, dropping the first `warmup` (>= 1) steps."""
    e = ends[max(1, warmup) - 1:]
    return [b - a for a, b in zip(e, e[1:])]


class StepEndTimer(L.Callback):
    """Reads the clock (after the device's queued work) at the end of every training batch, so that
    consecutive readings time a whole step: loading, forward, backward, optimizer."""

    def __init__(self, device: torch.device):
        self.device, self.ends = device, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ends.append(now(self.device))


def median(xs) -> float:
    return float(statistics.median(xs))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(rows: list[tuple[str, list[str]]], columns: list[str], first: int = 34) -> str:
    """Rows of (label, one cell per column) under a header of device columns."""
    width = max([16] + [len(c) for r in rows for c in r[1]])
    lines = [" " * first + "".join(f"{c:>{width + 2}}" for c in columns)]
    for label, cells in rows:
        lines.append(f"{label:<{first}}" + "".join(f"{c:>{width + 2}}" for c in cells))
    return "\n".join(lines)


def rtfm_module(feature_dim: int):
    """An RTFM LightningModule built from its parts (Adam lr 1e-3, wd 5e-4: the bare loop uses the same)."""
    import functools

    import torch

    from vadbench.models.rtfm import RTFM, RTFMLoss, RTFMModel

    return RTFM(net=RTFMModel(feature_dim=feature_dim), loss=RTFMLoss(),
                optimizer=functools.partial(torch.optim.Adam, lr=1e-3, weight_decay=5e-4))
