"""`vadbench predict` writes per-video scores (the CLI adds a BasePredictionWriter callback)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from vadbench.cli import main, run_cli
from vadbench.leaderboard.scores import load_scores
from vadbench.results import load_records


def test_predict_writes_the_scores_test_computes(tiny_synthetic_mil, tmp_path):
    common = [f"--data.init_args.root={tiny_synthetic_mil}", "--data.init_args.feature_dim=64", "--data.init_args.batch_size=8",
              "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
              f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={tmp_path / 'results'}"]
    cli = run_cli(["fit", "--config", "sultani/synthetic.yaml", *common, "--trainer.max_steps=4"])
    ckpt = cli.trainer.checkpoint_callback.last_model_path
    assert main(["predict", "--config", "sultani/synthetic.yaml", *common, f"--ckpt_path={ckpt}"]) == 0
    written = sorted((tmp_path / "runs").rglob("predictions/sultani-synthetic.scores.npz"))
    assert len(written) == 1 and written[0].parent.parent.name.startswith("predict-")  # the predict run's own folder
    predicted = load_scores(written[0])
    tested = load_scores(load_records([tmp_path / "results"])[0]["_path"].replace(".json", ".scores.npz"))
    assert [v.name for v in predicted.videos] == [v.name for v in tested.videos] and len(tested.videos) == 16
    for p, t in zip(predicted.videos, tested.videos):
        np.testing.assert_allclose(p.snippet_scores, t.snippet_scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(p.frame_labels, t.frame_labels)
    with open(written[0].parent / "sultani-synthetic.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16
    assert float(rows[0]["max_score"]) == pytest.approx(float(predicted.videos[0].snippet_scores.max()), abs=1e-6)
