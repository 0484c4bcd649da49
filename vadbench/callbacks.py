"""Callbacks the CLI adds to every trainer: a step progress bar, the `predict` score writer, and the
warning filters (each with its reason).

- `StepProgressBar`: one training bar over the whole run, `global step / max steps`, with the
  overall ETA and the loss terms (`train/loss`, ...), instead of Lightning's per-epoch "Epoch 54: 4/4";
  plain lines instead of a live bar when the output is a file.
- `VadbenchModelSummary`: Lightning's model summary without a column of zero FLOPs.
- `FrozenModulesNote`: one line saying why a staged fit has modules in eval mode (instead of
  Lightning's warning at every stage).
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
import time
import warnings
from pathlib import Path

import torch

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter, ModelSummary, ProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

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
    ("Trainer already configured with model summary callbacks",
     "vadbench's own summary (VadbenchModelSummary: no column of zero FLOPs) replaces Lightning's, on purpose"),
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
    """One bar over the whole fit: `fit 120/300` global steps, the overall ETA and every loss term
    (`loss`, `classification`, `magnitude`, ...: each `train/*` value the model logs).

    On a terminal it is a live tqdm bar; Lightning's extra bars are not drawn (no `Sanity Checking
    0/?`, no `Training 0/?` before the total is known), the evaluation bars are created with their
    totals, and the fit bar ends its line at the last step, before Lightning's `Trainer.fit stopped`
    message. When stdout is not a terminal (a log file, a pipe: `lines=None` decides by
    `sys.stdout.isatty()`), it prints plain lines instead, about ten per fit (`every` steps), and no
    carriage-return updates.
    """

    LINES_PER_FIT = 10

    def __init__(self, refresh_rate: int = 1, leave: bool = True, lines: bool | None = None) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self.lines = (not _is_terminal(sys.stdout)) if lines is None else lines
        self._last_line_step = self._resumed_from = 0
        self._start_time: float | None = None

    # ------------------------------------------------------------------ bars
    def _bar(self, desc: str, total, leave: bool = True, position: int = 0) -> Tqdm:
        """A bar with its total from the start (a tqdm without one prints `0/?`); a silent one in line mode."""
        total = None if total in (None, float("inf")) else int(total)
        return Tqdm(desc=desc, total=total, position=2 * self.process_position + position,
                    disable=self.is_disabled or self.lines, leave=leave, dynamic_ncols=True, file=sys.stdout,
                    smoothing=0, bar_format=self.BAR_FORMAT)

    def init_sanity_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)   # the sanity check is a few batches: no bar of its own

    def init_train_tqdm(self) -> Tqdm:
        return self._bar("fit", self._total_steps(self.trainer))

    def init_validation_tqdm(self) -> Tqdm:
        has_main_bar = self.trainer.state.fn != "validate"
        return self._bar("validate", sum(self.trainer.num_val_batches or [0]) or None, leave=not has_main_bar,
                         position=int(has_main_bar))

    def init_test_tqdm(self) -> Tqdm:
        return self._bar("test", sum(self.trainer.num_test_batches or [0]) or None)

    def init_predict_tqdm(self) -> Tqdm:
        return self._bar("predict", sum(self.trainer.num_predict_batches or [0]) or None)

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
        self.train_progress_bar.n = trainer.global_step   # a resumed run starts where it stopped
        self._start_time = time.monotonic()
        self._last_line_step = self._resumed_from = trainer.global_step

    def on_train_epoch_start(self, trainer, *_) -> None:
        self.train_progress_bar.set_description(f"fit (epoch {trainer.current_epoch})", refresh=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        n, total = trainer.global_step, bar.total
        last = total is not None and n >= total
        if self.lines:
            every = max(1, (total or 100) // self.LINES_PER_FIT)
            bar.n = n
            if n - self._last_line_step >= every or last:
                self._last_line_step = n
                self._print_line(trainer, pl_module, n, total)
        elif n % max(self.refresh_rate, 1) == 0 or last:
            bar.n = n
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()
        if last:
            bar.close()   # the line ends here, before Lightning prints "`Trainer.fit` stopped"

    def _print_line(self, trainer, pl_module, n: int, total: int | None) -> None:
        elapsed = time.monotonic() - (self._start_time or time.monotonic())
        rate = (n - self._resumed_from) / elapsed if elapsed > 0 else 0.0
        eta = f", ETA {_clock((total - n) / rate)}" if total and rate > 0 else ""
        terms = " ".join(f"{k}={v}" for k, v in self.get_metrics(trainer, pl_module).items())
        pct = f" ({100 * n / total:.0f}%)" if total else ""
        print(f"fit step {n}/{total or '?'}{pct}, {_clock(elapsed)} elapsed{eta}" + (f", {terms}" if terms else ""),
              flush=True)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        bar = self.train_progress_bar
        if not bar.disable:
            bar.set_postfix(self.get_metrics(trainer, pl_module))
        if trainer.max_epochs is not None and 0 < trainer.max_epochs <= trainer.current_epoch + 1:
            bar.close()   # the last epoch: end the line before Lightning's stop message

    # evaluation bars: the total is set when the bar is made; one description ("test"), not "Testing DataLoader 0"
    def _eval_batch_start(self, bar, stage: str, dataloader_idx: int) -> None:
        if not self.has_dataloader_changed(dataloader_idx):
            return
        total = getattr(self, f"total_{stage}_batches_current_dataloader")
        total = None if total in (None, float("inf")) else int(total)
        if bar.total != total or bar.n:
            bar.reset(total=total)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch_start(self.val_progress_bar, "val", dataloader_idx)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch_start(self.test_progress_bar, "test", dataloader_idx)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch_start(self.predict_progress_bar, "predict", dataloader_idx)

    def get_metrics(self, trainer, pl_module) -> dict:
        """`loss` first, then every other `train/*` value the model logs (its loss terms), 4 digits."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        terms = {}
        for key, value in trainer.callback_metrics.items():
            if key.startswith("train/"):
                try:
                    terms[key.split("/", 1)[1]] = f"{float(value):.4g}"
                except (TypeError, ValueError):
                    continue
        ordered = {k: terms[k] for k in sorted(terms, key=lambda k: (k != "loss", k))}
        return {**ordered, **{k: v for k, v in metrics.items() if k not in ordered}}


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class VadbenchModelSummary(ModelSummary):
    """Lightning's model summary without the FLOPs column and total when nothing was counted (Lightning
    counts FLOPs only for a module with an `example_input_array`, which ours lack: a column of zeros), and
    with the modules in eval mode explained (the frozen parts of a staged fit, see `FrozenModulesNote`)."""

    @staticmethod
    def summarize(summary_data, total_parameters, trainable_parameters, model_size, total_training_modes,
                  total_flops, **summarize_kwargs) -> None:
        from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

        if not total_flops:
            summary_data = [(name, col) for name, col in summary_data if name != "FLOPs"]
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                      total_flops, *summary_data)
        if not total_flops:
            table = "\n".join(line for line in table.splitlines() if not line.endswith("Total Flops"))
        logging.getLogger("lightning.pytorch.callbacks.model_summary").info("\n" + table)


EVAL_MODE_WARNING = r".*module\(s\) in eval mode at the start of training.*"


class FrozenModulesNote(L.Callback):
    """A staged fit (SSRL / MSIP schedules) keeps the previous stage's BatchNorm layers in eval mode on
    purpose (their running statistics must not move, vadbench/models/components/staging.py). Lightning
    warns `Found N module(s) in eval mode` at every such fit; this says once why, and silences that warning
    for modules that are frozen that way. Any other module left in eval mode still gets Lightning's warning."""

    def on_fit_start(self, trainer, pl_module) -> None:
        from vadbench.models.components.staging import FrozenModules

        if not isinstance(pl_module, FrozenModules):
            return
        frozen = [name for name, m in pl_module.named_modules()
                  if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                  and m.parameters(recurse=False) and not any(p.requires_grad for p in m.parameters(recurse=False))]
        if not frozen:
            return
        warnings.filterwarnings("ignore", message=EVAL_MODE_WARNING)
        if trainer.is_global_zero:
            print(f"vadbench: {len(frozen)} BatchNorm module(s) of the previous stage stay in eval mode "
                  f"(frozen on purpose: their running statistics must not move)", file=sys.stderr)


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
            not any(isinstance(c, ProgressBar) for c in configured) and sys.stdout is not None:
        out.append(StepProgressBar())
    if trainer_config.get("enable_model_summary", True) is not False and \
            not any(isinstance(c, ModelSummary) for c in configured):
        out.append(VadbenchModelSummary())
    if subcommand == "fit":
        out.append(FrozenModulesNote())
    if subcommand == "predict" and not any(isinstance(c, BasePredictionWriter) for c in configured):
        out.append(PredictionScoreWriter())
    return out
