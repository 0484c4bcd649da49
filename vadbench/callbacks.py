"""Callbacks the CLI adds to every trainer: a step progress bar, the `predict` score writer, and the
warning filters (each with its reason).

- `StepProgressBar`: one training bar over the whole run, `global step / max steps`, with the
  overall ETA and the loss terms (`train/loss`, ...), instead of Lightning's per-epoch "Epoch 54: 4/4".
- `PredictionScoreWriter`: `vadbench predict` writes per-video scores to
  `<default_root_dir>/predictions/<model>-<dataset>.scores.npz` (the format of
  `vadbench/leaderboard/scores.py`, readable by `vadbench plot`) and a `.csv` summary (one line per
  video: name, snippets, max and mean score).

Opt-in (not added by the CLI): `TorchCompile` compiles the model's torch core with `torch.compile`
(`--config trainer/compile.yaml`, or `--trainer.callbacks+=vadbench.callbacks.TorchCompile`);
`ExactFloat32` turns TensorFloat-32 off for true float32 on Ampere+ GPUs (`--config trainer/gpu_fp32.yaml`).
"""

from __future__ import annotations

import csv
import logging
import sys
import warnings
from pathlib import Path

import torch

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter, ProgressBar, TQDMProgressBar

# Warnings that come with every fit and that a user cannot act on; ours are fixed instead.
FILTERED_WARNINGS = (
    # Lightning suggests tensorboardX / litlogger when the default logger is used; not needed here.
    (r".*tensorboardX.*", "Lightning's advice on an optional TensorBoard package"),
    (r".*litlogger.*", "an advertisement for Lightning's hosted logger"),
    (r".*LeafSpec.*", "a torch.utils._pytree deprecation inside Lightning, not our code"),
    # eval samplers give some ranks no videos on tiny test sets; the metric gathers all ranks anyway
    (r".*Total length of .* across ranks is zero.*", "torchmetrics under DDP with an empty rank; results are gathered"),
    # logging counts global steps across epochs, so short epochs still log every n steps
    (r".*smaller than the logging interval.*", "logging counts global steps across epochs (short MIL epochs)"),
    (r".*does not have many workers.*", "the feature loaders are in-memory; workers would not help"),
    (r".*Checkpoint directory .* exists and is not empty.*", "runs reuse their folder on purpose (last.ckpt)"),
    (r".*The dirpath has changed from.*", "test/predict from a checkpoint need none of the training run's callback state"),
)


# Lightning log lines (not warnings) dropped for the same reasons.
FILTERED_LOG_LINES = (
    ("litlogger", "an advertisement for Lightning's hosted logger, printed by every Trainer"),
    ("tensorboardX", "Lightning's advice on an optional TensorBoard package"),
)


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.getMessage())
        return not any(needle in text for needle, _reason in FILTERED_LOG_LINES)


def filter_warnings() -> None:
    for pattern, _reason in FILTERED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) for f in log.filters):
            log.addFilter(_DropLines())


class StepProgressBar(TQDMProgressBar):
    """A TQDM bar over global steps (`step 120/300`, ETA of the whole run) with the loss terms."""

    def __init__(self, refresh_rate: int = 1, leave: bool = True) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)

    def _total_steps(self, trainer) -> int | None:
        if trainer.max_steps and trainer.max_steps > 0:
            return int(trainer.max_steps)
        try:
            total = trainer.estimated_stepping_batches
        except Exception:  # noqa: BLE001 - unknown length (iterable datasets)
            return None
        return int(total) if total != float("inf") else None

    def on_train_start(self, trainer, pl_module) -> None:
        self.train_progress_bar = self.init_train_tqdm()
        self.train_progress_bar.reset(total=self._total_steps(trainer))
        self.train_progress_bar.initial = 0
        self.train_progress_bar.n = trainer.global_step
        self.train_progress_bar.set_description("fit")

    def on_train_epoch_start(self, trainer, *_) -> None:
        self.train_progress_bar.set_description(f"fit (epoch {trainer.current_epoch})")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = trainer.global_step
        if n % max(self.refresh_rate, 1) == 0 or n == self.train_progress_bar.total:
            self.train_progress_bar.n = n
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))
            self.train_progress_bar.refresh()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        for key, value in trainer.callback_metrics.items():
            if key.startswith("train/") and "loss" in key and key not in metrics:
                metrics[key.split("/", 1)[1]] = f"{float(value):.4g}"
        return metrics


class PredictionScoreWriter(BasePredictionWriter):
    """Writes `vadbench predict`'s per-video scores (MIL models) or the raw predictions (others)."""

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self._rows: dict[int, tuple] = {}
        self._raw: list = []

    def on_predict_start(self, trainer, pl_module) -> None:
        self._rows, self._raw = {}, []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        if not (isinstance(prediction, dict) and "video_index" in prediction and "scores" in prediction):
            self._raw.append(prediction)
            return
        labels = getattr(batch, "frame_labels", None)
        for j, (idx, scores) in enumerate(zip(prediction["video_index"].tolist(), prediction["scores"])):
            lab = labels[j][labels[j] >= 0].cpu() if labels is not None else scores.new_zeros(0, dtype=int)
            self._rows[int(idx)] = (scores.detach().float().cpu(), lab)

    def _out_dir(self, trainer) -> Path:
        return Path(self.output_dir or Path(trainer.default_root_dir or "runs") / "predictions")

    def on_predict_end(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        out = self._out_dir(trainer)
        out.mkdir(parents=True, exist_ok=True)
        dm = trainer.datamodule
        model_id = getattr(pl_module, "model_id", type(pl_module).__name__.lower())
        dataset = getattr(dm, "dataset_id", type(dm).__name__.lower()) if dm is not None else "data"
        stem = f"{model_id}-{dataset}"
        if self._raw and not self._rows:
            import torch

            path = out / f"{stem}.predictions.pt"
            torch.save(self._raw, path)
            print(f"vadbench: predictions written to {path}")
            return
        if not self._rows:
            return
        from vadbench.leaderboard.scores import save_scores

        videos = getattr(dm, "splits", {}).get("test", []) if dm is not None else []
        order = sorted(self._rows)
        names = [videos[i].name if i < len(videos) else f"video{i}" for i in order]
        fps = int(getattr(pl_module, "frames_per_snippet", 16))
        path = save_scores(out / f"{stem}.scores.npz", names, [self._rows[i][0] for i in order],
                           [self._rows[i][1] for i in order], frames_per_snippet=fps)
        with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["video", "snippets", "max_score", "mean_score"])
            for name, i in zip(names, order):
                s = self._rows[i][0]
                w.writerow([name, len(s), f"{float(s.max()):.6f}", f"{float(s.mean()):.6f}"])
        print(f"vadbench: per-video scores of {len(order)} video(s) written to {path} and {out / (stem + '.csv')}")


class TorchCompile(L.Callback):
    """Compile the LightningModule's torch core (`net` of the config: `.model` of the MIL modules, `.net`
    of the few-shot ones) in place with `nn.Module.compile`, before the first step of any stage.

    In place means the state-dict keys stay those of the eager module: checkpoints written with and
    without compilation load into each other, and golden/equivalence tests apply unchanged. The loss,
    the optimizer and Lightning's loop are not compiled. Off by default: compilation costs ~45 s on a
    CPU before the first step (a one-off per process and input shape; variable test lengths are traced
    with dynamic shapes after the first recompilation), which pays off only on long runs. Measured with
    `vadbench bench rtfm --compile` (it prints eager and compiled seconds per step side by side);
    `tests/unit/test_torch_compile.py` checks that the compiled step gives the eager losses and gradients.

    Args: `mode` / `dynamic` / `backend` / `fullgraph` are passed to `torch.compile` (`mode:
    max-autotune` on a GPU, `backend: aot_eager` to check tracing without a C++ compiler).
    """

    def __init__(self, mode: str | None = None, dynamic: bool | None = None, backend: str = "inductor",
                 fullgraph: bool = False):
        self.options = {"mode": mode, "dynamic": dynamic, "backend": backend, "fullgraph": fullgraph}
        self.compiled: list[str] = []

    @staticmethod
    def core_of(pl_module) -> tuple[str, "torch.nn.Module"]:
        for name in ("model", "net"):
            core = getattr(pl_module, name, None)
            if isinstance(core, torch.nn.Module):
                return name, core
        raise TypeError(f"TorchCompile: {type(pl_module).__name__} has no torch core in .model or .net")

    def setup(self, trainer, pl_module, stage: str) -> None:
        name, core = self.core_of(pl_module)
        if name not in self.compiled:
            core.compile(**self.options)
            self.compiled.append(name)


class ExactFloat32(L.Callback):
    """True float32 on the GPU (`trainer/gpu_fp32.yaml`): TensorFloat-32 switched off. PyTorch otherwise
    uses it (10-bit mantissa inputs) for cuDNN convolutions on Ampere and newer GPUs (RTFM's relation
    network, the ResNets), and for matrix products where `torch.set_float32_matmul_precision` allows it.
    The previous settings come back when the run ends."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
                        torch.get_float32_matmul_precision())
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")

    def teardown(self, trainer, pl_module, stage: str) -> None:
        before = getattr(self, "_before", None)
        if before is not None:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before[:2]
            torch.set_float32_matmul_precision(before[2])


def default_callbacks(trainer_config: dict, subcommand: str | None) -> list:
    """The callbacks the CLI adds: the step progress bar (unless disabled or one is configured) and,
    for `predict`, the score writer."""
    filter_warnings()
    configured = trainer_config.get("callbacks") or []
    configured = configured if isinstance(configured, list) else [configured]
    out = []
    if trainer_config.get("enable_progress_bar", True) is not False and \
            not any(isinstance(c, ProgressBar) for c in configured) and subcommand == "fit" and sys.stderr is not None:
        out.append(StepProgressBar())
    if subcommand == "predict" and not any(isinstance(c, BasePredictionWriter) for c in configured):
        out.append(PredictionScoreWriter())
    return out
