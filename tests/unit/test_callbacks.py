"""The CLI's callbacks: a progress bar over global steps with the loss, the warning filters."""

from __future__ import annotations

import warnings

import lightning as L
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from vadbench.callbacks import FILTERED_WARNINGS, StepProgressBar, default_callbacks, filter_warnings


class LossTerms(BoringModel):
    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("train/loss", out["loss"])
        self.log("train/magnitude", torch.tensor(0.5))
        return out


def test_step_bar_counts_global_steps_across_epochs_and_shows_the_loss(tmp_path):
    bar = StepProgressBar()
    model = LossTerms()
    trainer = L.Trainer(max_steps=10, limit_train_batches=3, limit_val_batches=0, callbacks=[bar], logger=False,
                        enable_checkpointing=False, default_root_dir=tmp_path, enable_model_summary=False)
    trainer.fit(model)
    tqdm = bar.train_progress_bar
    assert trainer.current_epoch >= 3          # several epochs of 3 batches ...
    assert (tqdm.n, tqdm.total) == (10, 10)    # ... one bar over the 10 global steps (not "Epoch 3: 1/3")
    metrics = bar.get_metrics(trainer, model)
    assert "loss" in metrics and "v_num" not in metrics and "magnitude" not in metrics


def test_default_callbacks_respect_the_user():
    assert [type(c).__name__ for c in default_callbacks({}, "fit")] == ["StepProgressBar"]
    assert default_callbacks({"enable_progress_bar": False}, "fit") == []
    assert [type(c).__name__ for c in default_callbacks({"enable_progress_bar": False}, "predict")] == \
        ["PredictionScoreWriter"]


def test_every_filtered_warning_has_a_reason():
    assert all(len(reason) > 15 for _, reason in FILTERED_WARNINGS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filter_warnings()
        warnings.warn("The number of training batches (4) is smaller than the logging interval Trainer(...)")
        warnings.warn("something else")
    assert [str(w.message) for w in caught] == ["something else"]
