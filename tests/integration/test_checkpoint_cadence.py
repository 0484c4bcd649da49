"""How many checkpoint files a short fit leaves (vadbench/checkpointing.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from vadbench.cli import run_cli


def _args(root: Path, tmp_path: Path, name: str) -> list[str]:
    return ["fit", "--config", "sultani/synthetic.yaml", f"--data.init_args.root={root}",
            "--data.init_args.feature_dim=64", "--data.init_args.batch_size=4",
            "--data.init_args.iterations_per_epoch=2", "--trainer.max_steps=6", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={tmp_path / name}",
            f"--results_dir={tmp_path / 'results'}", "--run_test=false"]


def test_fit_without_selection_keeps_only_last_ckpt(tiny_synthetic_mil, tmp_path):
    cli = run_cli(_args(tiny_synthetic_mil, tmp_path, "plain"))  # 3 epochs of 2 steps
    files = sorted(p.name for p in (tmp_path / "plain").rglob("*.ckpt"))
    assert files == ["last.ckpt"]
    state = torch.load(cli.trainer.checkpoint_callback.last_model_path, map_location="cpu", weights_only=False)
    assert state["global_step"] == 6  # the final weights, although the 10 min cadence never fired


def test_fit_with_selection_keeps_best_and_last(tiny_synthetic_mil, tmp_path):
    cli = run_cli(_args(tiny_synthetic_mil, tmp_path, "select") + [
        "--data.init_args.validation=train_split", "--checkpoint.monitor=val/video_auc", "--checkpoint.mode=max"])
    files = sorted(p.name for p in (tmp_path / "select").rglob("*.ckpt"))
    assert len(files) == 2 and "last.ckpt" in files, files
    cb = cli.trainer.checkpoint_callback
    assert Path(cb.best_model_path).is_file() and Path(cb.best_model_path).name != "last.ckpt"


def test_last_every_s_zero_writes_last_every_epoch(tiny_synthetic_mil, tmp_path, monkeypatch):
    from vadbench.checkpointing import VadbenchCheckpoint

    steps = []
    original = VadbenchCheckpoint._save_checkpoint
    monkeypatch.setattr(VadbenchCheckpoint, "_save_checkpoint",
                        lambda self, trainer, path: (steps.append(trainer.global_step), original(self, trainer, path)))
    run_cli(_args(tiny_synthetic_mil, tmp_path, "every") + ["--checkpoint.last_every_s=0"])
    assert steps == [2, 4, 6]
    assert sorted(p.name for p in (tmp_path / "every").rglob("*.ckpt")) == ["last.ckpt"]
