"""End-to-end CLI runs of the MIL pipeline on small synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vadbench.cli import main, run_cli
from vadbench.results import load_records, make_record, write_record


def _common(root: Path, tmp_path: Path, dim: int = 64) -> list[str]:
    return [f"--data.init_args.root={root}", f"--data.init_args.feature_dim={dim}",
            "--data.init_args.batch_size=8",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={tmp_path / 'results'}"]


def test_rtfm_learns_on_synthetic_from_the_cli(tiny_synthetic_mil, tmp_path):
    """Init AUC vs trained AUC, both through `vadbench test/fit`; result JSON fields."""
    common = _common(tiny_synthetic_mil, tmp_path)
    assert main(["test", "--config", "rtfm/synthetic.yaml", *common, "--setting=init"]) == 0
    assert main(["fit", "--config", "rtfm/synthetic.yaml", *common, "--trainer.max_steps=300"]) == 0
    records = {r["setting"]: r for r in load_records([tmp_path / "results"])}
    init, trained = records["init"]["metrics"]["frame_auc_micro"], records["default"]["metrics"]["frame_auc_micro"]
    assert trained > 0.75 and trained > init + 0.25, (init, trained)
    rec = records["default"]
    assert rec["model"] == "rtfm" and rec["dataset"] == "synthetic" and rec["data_source"] == "synthetic"
    assert rec["model_selection"] == "last" and rec["seed"] == 0
    assert rec["config"]["model"]["class_path"] == "vadbench.models.rtfm.RTFM"
    assert rec["data_fingerprint"].startswith("sha256:") and rec["ckpt_path"].endswith("last.ckpt")
    assert set(rec["metrics"]) >= {"frame_auc_micro", "frame_auc_macro", "frame_ap_micro"}
    # per-video scores beside the result, for ROC/PR curves and timelines
    from vadbench.leaderboard.scores import load_scores, scores_path_for

    from sklearn.metrics import roc_auc_score

    saved = load_scores(scores_path_for(rec["_path"]))
    assert len(saved.videos) == 16
    frame_scores, frame_labels = saved.frames()
    assert abs(roc_auc_score(frame_labels, frame_scores) - trained) < 1e-6


def test_sultani_runs_and_resume_from_checkpoint(tiny_synthetic_mil, tmp_path):
    common = _common(tiny_synthetic_mil, tmp_path)
    cli = run_cli(["fit", "--config", "sultani/synthetic.yaml", *common, "--trainer.max_steps=6", "--run_test=false"])
    last = Path(cli.trainer.checkpoint_callback.last_model_path)
    assert last.name == "last.ckpt" and last.is_file()
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 6
    resumed = run_cli(["fit", "--config", "sultani/synthetic.yaml", *common, "--trainer.max_steps=10",
                       f"--ckpt_path={last}", "--run_test=false"])
    assert resumed.trainer.global_step == 10
    # test from the checkpoint: weights are those of the file
    tested = run_cli(["test", "--config", "sultani/synthetic.yaml", *common, f"--ckpt_path={last}"])
    for k, v in tested.model.state_dict().items():
        assert torch.equal(v, state["state_dict"][k]), k
    rec = load_records([tmp_path / "results"])[0]
    assert rec["model"] == "sultani" and rec["ckpt_path"] == str(last)


def test_result_files_are_never_overwritten(tmp_path):
    rec = make_record(model="m", model_class="x.M", dataset="d", metrics={"a": 1.0}, model_selection="last",
                      data_source="synthetic", seed=0)
    paths = {write_record(tmp_path, rec) for _ in range(3)}
    assert len(paths) == 3 and all(json.loads(p.read_text())["metrics"] == {"a": 1.0} for p in paths)


def test_bad_input_is_a_clear_cli_error(tiny_synthetic_mil, tmp_path, capsys):
    code = main(["test", "--config", "rtfm/synthetic.yaml", *_common(tiny_synthetic_mil, tmp_path, dim=48)])
    err = capsys.readouterr().err
    assert code == 2 and "feature dim 64 but the config expects 48" in err and "_i3d.npy" in err
    code = main(["fit", "--config", "rtfm/ucf_crime.yaml", f"--data.init_args.root={tmp_path / 'nowhere'}"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("validation,monitor,expected", [
    ("oracle_test", "val/frame_auc_micro", "oracle_best_on_test"),
    ("train_split", "val/video_auc", "best_val"),
])
def test_model_selection_is_labelled(tiny_synthetic_mil, tmp_path, validation, monitor, expected):
    common = _common(tiny_synthetic_mil, tmp_path)
    cli = run_cli(["fit", "--config", "sultani/synthetic.yaml", *common, "--trainer.max_steps=6",
                   f"--data.init_args.validation={validation}", f"--checkpoint.monitor={monitor}",
                   "--checkpoint.mode=max", "--data.init_args.iterations_per_epoch=2"])
    rec = load_records([tmp_path / "results"])[0]
    assert rec["model_selection"] == expected
    assert Path(rec["ckpt_path"]) == Path(cli.trainer.checkpoint_callback.best_model_path)
    assert cli.trainer.checkpoint_callback.best_model_score is not None  # the monitored value was logged


@pytest.mark.slow
def test_rtfm_synthetic_default_reaches_the_official_switch_auc(tmp_path):
    """Issue 12: `vadbench fit --config rtfm/synthetic.yaml` as shipped (official recipe, 32 + 32 videos,
    300 steps, seed 0, default synthetic set generated on first use) reaches at least the 0.832 micro AUC
    the issue measured with the official switches (measured: 0.841; at 16 + 16 it gives 0.825)."""
    results = tmp_path / "results"
    assert main(["fit", "--config", "rtfm/synthetic.yaml", "--trainer.enable_progress_bar=false",
                 "--trainer.enable_model_summary=false", "--trainer.logger=false",
                 f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={results}"]) == 0
    (rec,) = load_records([results])
    assert rec["config"]["data"]["init_args"]["batch_size"] == 32
    assert rec["metrics"]["frame_auc_micro"] >= 0.832, rec["metrics"]


def test_ckpt_path_keeps_the_users_evaluation_options_and_names_replaced_values(tiny_synthetic_mil, tmp_path, capsys):
    """Lightning lets a checkpoint's hyper-parameters replace the model config on `test --ckpt_path`: an
    evaluation-only option the user gives (Sultani `test_scoring`) must stay the user's, and any other
    replaced value is named on stderr, never silently."""
    common = _common(tiny_synthetic_mil, tmp_path)
    assert main(["fit", "--config", "sultani/synthetic.yaml", *common, "--trainer.max_steps=3", "--run_test=false"]) == 0
    (ckpt,) = (tmp_path / "runs").rglob("last.ckpt")
    capsys.readouterr()
    for scoring in ("per_snippet", "official_segments"):
        assert main(["test", "--config", "sultani/synthetic.yaml", *common, f"--ckpt_path={ckpt}",
                     f"--model.init_args.test_scoring={scoring}", f"--setting=scoring_{scoring}",
                     "--model.init_args.optimizer.init_args.lr=0.5"]) == 0
        err = capsys.readouterr().err
        assert "model.init_args.optimizer.init_args.lr = 0.01 from the checkpoint replaces 0.5" in err, err
        assert "test_scoring" not in err
    records = {r["setting"]: r for r in load_records([tmp_path / "results"])}
    for scoring in ("per_snippet", "official_segments"):
        assert records[f"scoring_{scoring}"]["config"]["model"]["init_args"]["test_scoring"] == scoring
    # the two scorings really ran (different frame scores give different AUCs on this set)
    assert records["scoring_per_snippet"]["metrics"]["frame_auc_micro"] != \
        records["scoring_official_segments"]["metrics"]["frame_auc_micro"]
