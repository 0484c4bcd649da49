"""The CLI's callbacks: a progress bar over global steps with the loss terms (a live bar on a terminal,
plain lines in a file), the model summary, the frozen-modules note, the warning filters."""

from __future__ import annotations

import logging
import warnings

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from vadbench.callbacks import (FILTERED_WARNINGS, StepProgressBar, VadbenchModelSummary, default_callbacks,
                                filter_warnings)
from vadbench.models.components.staging import FrozenModules


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
    assert list(metrics)[:2] == ["loss", "magnitude"] and "v_num" not in metrics   # every loss term, loss first


def _fit(bar, tmp_path, **trainer_kw):
    model = LossTerms()
    trainer = L.Trainer(max_steps=10, limit_train_batches=3, callbacks=[bar], logger=False, enable_checkpointing=False,
                        default_root_dir=tmp_path, enable_model_summary=False, **trainer_kw)
    trainer.fit(model)
    trainer.test(model, dataloaders=model.val_dataloader(), verbose=False)
    return trainer


def test_output_to_a_file_is_plain_lines_with_the_loss_terms(tmp_path, capsys):
    _fit(StepProgressBar(lines=True), tmp_path, limit_val_batches=2, num_sanity_val_steps=2)
    out = capsys.readouterr().out
    assert "\r" not in out                                   # no carriage-return updates written as lines
    lines = [line for line in out.splitlines() if line.startswith("fit step")]
    assert 5 <= len(lines) <= 11 and lines[-1].startswith("fit step 10/10 (100%)")
    assert "loss=" in lines[-1] and "magnitude=0.5" in lines[-1] and "ETA" in lines[-1]
    assert "Sanity" not in out and "Testing" not in out and "0/?" not in out


def test_terminal_bar_has_no_stray_bars_and_ends_its_line_before_the_stop_message(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="lightning.pytorch")   # another test may have quietened Lightning
    bar = StepProgressBar(lines=False)
    closed_at_stop = []

    class Spy(logging.Handler):
        def emit(self, record):
            if "stopped" in record.getMessage():
                closed_at_stop.append(bar.train_progress_bar.disable)   # tqdm.close() disables the bar

    spy = Spy()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addHandler(spy)
    try:
        _fit(bar, tmp_path, limit_val_batches=2, num_sanity_val_steps=2, val_check_interval=3)
    finally:
        logging.getLogger("lightning.pytorch.utilities.rank_zero").removeHandler(spy)
    out = capsys.readouterr().out
    assert "fit (epoch" in out and "10/10" in out and "magnitude=0.5" in out
    assert "0/?" not in out and "Sanity Checking" not in out and "Training" not in out   # no bars without a total
    assert "test: 100%" in out and "Testing DataLoader" not in out
    assert closed_at_stop == [True]      # Lightning's "`Trainer.fit` stopped" is printed on a line of its own


def test_model_summary_has_no_column_of_zero_flops(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lightning.pytorch")
    trainer = L.Trainer(max_steps=1, callbacks=[VadbenchModelSummary()], logger=False, enable_checkpointing=False,
                        default_root_dir=tmp_path, enable_progress_bar=False, limit_val_batches=0)
    trainer.fit(BoringModel())
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Total params" in text and "Params" in text
    assert "FLOPs" not in text and "Flops" not in text


class FrozenStage(FrozenModules, BoringModel):
    """A staged model whose previous stage (a BatchNorm) is frozen and kept in eval mode on purpose."""

    def __init__(self):
        super().__init__()
        self.previous = torch.nn.BatchNorm1d(32)
        self.previous.requires_grad_(False)
        self.train()   # FrozenModules.train: frozen BatchNorms stay in eval mode


def test_a_staged_fit_says_once_why_modules_are_in_eval_mode(tmp_path, capsys):
    model = FrozenStage()
    assert not model.previous.training
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = L.Trainer(max_steps=1, callbacks=default_callbacks({"enable_progress_bar": False}, "fit"),
                            logger=False, enable_checkpointing=False, default_root_dir=tmp_path,
                            enable_progress_bar=False, limit_val_batches=0)
        trainer.fit(model)
    assert not [w for w in caught if "in eval mode" in str(w.message)]   # Lightning's warning replaced ...
    err = capsys.readouterr().err
    assert err.count("stay in eval mode") == 1 and "frozen on purpose" in err   # ... by one line with the reason


def test_default_callbacks_respect_the_user():
    names = [type(c).__name__ for c in default_callbacks({}, "fit")]
    assert names == ["StepProgressBar", "VadbenchModelSummary", "FrozenModulesNote"]
    assert [type(c).__name__ for c in default_callbacks({"enable_progress_bar": False,
                                                          "enable_model_summary": False}, "fit")] == ["FrozenModulesNote"]
    assert [type(c).__name__ for c in default_callbacks({"enable_progress_bar": False}, "predict")] == \
        ["VadbenchModelSummary", "PredictionScoreWriter"]


def test_every_filtered_warning_has_a_reason():
    assert all(len(reason) > 15 for _, reason in FILTERED_WARNINGS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filter_warnings()
        warnings.warn("The number of training batches (4) is smaller than the logging interval Trainer(...)")
        warnings.warn("something else")
    assert [str(w.message) for w in caught] == ["something else"]
