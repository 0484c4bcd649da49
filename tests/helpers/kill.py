"""A test-only Lightning callback that kills its own process with SIGKILL (a real kill -9).

`step`: at the start of the batch after global step `step` (its checkpoint is written);
`epoch`: at the start of training epoch `epoch` (the previous epoch fully done).
"""

from __future__ import annotations

import os
import signal

from lightning.pytorch.callbacks import Callback


class KillAt(Callback):
    def __init__(self, step: int = -1, epoch: int = -1):
        self.step, self.epoch = step, epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
