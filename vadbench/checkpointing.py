"""The fit's checkpoint callback: `last.ckpt`, plus the best checkpoint only when a config selects on a metric.

Lightning's `ModelCheckpoint(save_last=True)` with its default `save_top_k=1` writes two full copies
at every epoch end (`epoch=N-step=M.ckpt` and `last.ckpt`, ~300 MB each for RTFM with its Adam
state). Here:

- no `monitor` (test the last weights): only `last.ckpt`, rewritten at most every `last_every_s`
  seconds (default 10 min: a crash loses at most that much) and always when training ends;
- `monitor` set (model selection on validation): the best checkpoint (top `save_top_k`, default
  1) whenever the metric improves, plus `last.ckpt` on the same time cadence and at the end.

Every option of `ModelCheckpoint` is still available (`checkpoint.every_n_epochs`, ...); with
`checkpoint.every_n_train_steps N` (or `train_time_interval`) `last.ckpt` is written on that cadence
instead (a kill -9 then loses at most N steps, and the resume is exact).
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import ModelCheckpoint


class VadbenchCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` writing `last.ckpt` on a time cadence and a best file only for model selection.

    Args:
        last_every_s: least seconds between two writes of `last.ckpt` during training (0 = at every
            checkpoint opportunity, as Lightning does); it is always written when training ends.
        **kwargs: `ModelCheckpoint`'s arguments (`save_last` defaults to True).
    """

    def __init__(self, *args, last_every_s: float = 600.0, **kwargs):
        kwargs.setdefault("save_last", True)
        super().__init__(*args, **kwargs)
        self.last_every_s = last_every_s
        self._last_written_at: float | None = None
        self._last_step_written: int | None = None
        self._force_last = False

    def setup(self, trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if self.monitor is None:
            self.save_top_k = 0  # nothing to select: last.ckpt is the only checkpoint

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        self._last_written_at = time.monotonic()  # the first write waits one interval

    def _save_last_checkpoint(self, trainer, monitor_candidates) -> None:
        # Lightning calls this after each top-k save; write only on our cadence or when forced
        now = time.monotonic()
        due = self._last_written_at is None or now - self._last_written_at >= self.last_every_s
        # an explicit step or time cadence (`every_n_train_steps`, `train_time_interval`: what an exact
        # mid-epoch resume needs) is the user's choice: last.ckpt follows it
        due = due or bool(self._every_n_train_steps) or self._train_time_interval is not None
        if not (self._force_last or due):
            return
        self._last_written_at, self._last_step_written = now, trainer.global_step
        super()._save_last_checkpoint(trainer, monitor_candidates)

    def _save_last_on_cadence(self, trainer) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_on_cadence(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_on_cadence(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._force_last = True
        try:
            super().on_exception(trainer, pl_module, exception)
        finally:
            self._force_last = False

    def on_train_end(self, trainer, pl_module) -> None:
        """`last.ckpt` holds the final weights (unless it was just written at this step)."""
        if not self.save_last or trainer.fast_dev_run or trainer.sanity_checking:
            return
        if self._last_step_written == trainer.global_step:
            return
        self._force_last = True
        try:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        finally:
            self._force_last = False
