"""`vadbench report` draws the training-loss curves of several runs (per group, mean ± std over seeds) from
the run folders' own logs: Lightning's CSV log here (wandb offline runs: tests/integration/test_wandb_report.py)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from vadbench.commands import report as report_cmd
from vadbench.leaderboard.board import group_records
from vadbench.leaderboard.curves import mean_band, read_history, run_folder
from vadbench.results import load_records, make_record, write_record


def fake_run(root, model, seed, losses, steps=None, ckpt_only=False):
    """A run folder as `vadbench fit` leaves it (CSV log, checkpoint) and its result JSON."""
    run = root / "runs" / model / "synthetic" / "default" / f"seed{seed}-x"
    log = run / "lightning_logs" / "version_0"
    log.mkdir(parents=True)
    steps = steps or list(range(4, 4 * len(losses) + 1, 4))
    with open(log / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "step", "train/loss", "train/magnitude", "test/frame_auc_micro"])
        for step, loss in zip(steps, losses):
            w.writerow([0, step, loss, loss / 2, ""])
        w.writerow([1, steps[-1], "", "", 0.7])          # the test row: no training value
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    extras = {} if ckpt_only else {"run_dir": str(run)}
    rec = make_record(model=model, model_class="x", dataset="synthetic", metrics={"frame_auc_micro": 0.7},
                      model_selection="last", data_source="synthetic", seed=seed, extras=extras,
                      ckpt_path=str(run / "checkpoints" / "last.ckpt"), data_fingerprint="sha256:abc")
    write_record(root / "results", rec)
    return run


def test_history_is_read_from_the_run_folder_or_the_tested_checkpoints_folder(tmp_path):
    run = fake_run(tmp_path, "rtfm", 0, [3.0, 2.0, 1.0])
    assert read_history(run) == {"train/loss": {4: 3.0, 8: 2.0, 12: 1.0},
                                 "train/magnitude": {4: 1.5, 8: 1.0, 12: 0.5}}
    tested = fake_run(tmp_path, "sultani", 0, [1.0, 1.0], ckpt_only=True)   # a `vadbench test` result
    recs = {r["model"]: r for r in load_records([tmp_path / "results"])}
    assert run_folder(recs["rtfm"]) == run and run_folder(recs["sultani"]) == tested


def test_mean_and_band_over_seeds_on_common_steps():
    steps, mean, std = mean_band([{0: 1.0, 10: 3.0, 20: 5.0}, {0: 3.0, 10: 5.0}])
    assert steps.tolist() == [0, 10] and mean.tolist() == [2.0, 4.0]
    assert std == pytest.approx([np.sqrt(2), np.sqrt(2)])                 # sample std of (1, 3) and (3, 5)
    steps, mean, std = mean_band([{0: 1.0, 10: 3.0}, {5: 4.0, 10: 4.0}])  # logged at other steps: interpolated
    assert steps.tolist() == [5, 10] and mean.tolist() == [3.0, 3.5]
    _, _, one = mean_band([{0: 1.0, 10: 3.0}])
    assert one.tolist() == [0.0, 0.0]


def test_report_draws_loss_curves_per_group_with_a_band_over_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path, "rtfm", 0, [3.0, 2.0, 1.0])
    fake_run(tmp_path, "rtfm", 1, [5.0, 4.0, 3.0])
    fake_run(tmp_path, "sultani", 0, [1.0, 1.5, 2.0])
    built = report_cmd.build(["results"], "report")
    curves = [p for p in built["plots"] if p.name.startswith("loss_")]
    assert [p.name for p in curves] == ["loss_synthetic.png"] and curves[0].stat().st_size > 10_000
    from vadbench.leaderboard.curves import loss_curves

    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr("vadbench.leaderboard.plots._save", lambda fig, out: drawn.append(fig) or out)
    loss_curves(group_records(load_records(["results"])), tmp_path / "again")
    (fig,) = drawn
    loss_ax = [ax for ax in fig.axes if ax.get_title() == "train/loss"][0]
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    assert set(lines) == {"rtfm (synthetic) (2 seeds)", "sultani (synthetic) (1 seed)"}
    assert lines["rtfm (synthetic) (2 seeds)"].get_ydata().tolist() == [4.0, 3.0, 2.0]   # mean of the seeds
    assert len(loss_ax.collections) == 1          # the band: only the group with several seeds has one
    assert "loss_synthetic.png" in built["html"]
    plt.close(fig)
