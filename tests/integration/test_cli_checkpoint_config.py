"""A checkpoint tests itself (issue 25): `vadbench test|predict --ckpt_path runs/.../last.ckpt` with no
`--config` uses the run folder's config.yaml (the user's options still apply, the new run gets its own folder
under the working directory); a run that fails before training leaves no folder; the synthetic data
location is printed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vadbench.cli import main


@pytest.fixture(scope="module")
def trained(tiny_synthetic_mil, tmp_path_factory):
    """One short RTFM fit on the tiny synthetic set, run from its own folder."""
    import os

    work = tmp_path_factory.mktemp("fit_here")
    old = os.getcwd()
    os.chdir(work)
    try:
        assert main(["fit", "--config", "rtfm/synthetic.yaml", f"--data.init_args.root={tiny_synthetic_mil}",
                     "--data.init_args.feature_dim=64", "--data.init_args.batch_size=4", "--trainer.max_steps=2",
                     "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]) == 0
    finally:
        os.chdir(old)
    (ckpt,) = work.glob("runs/rtfm/synthetic/default/seed0-*/checkpoints/last.ckpt")
    return work, ckpt


def test_test_and_predict_with_a_checkpoint_only_use_its_run_config(trained, tiny_synthetic_mil, tmp_path,
                                                                     monkeypatch, capsys):
    work, ckpt = trained
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["test", "--ckpt_path", str(ckpt), "--setting", "retest", "--trainer.enable_progress_bar=false"]) == 0
    err = capsys.readouterr().err
    assert f"config from the checkpoint's run folder: {ckpt.parent.parent}" in err
    assert f"vadbench: synthetic data in {tiny_synthetic_mil.resolve()}\n" in err       # where the data is
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert result["model"] == "rtfm" and result["setting"] == "retest"                   # the user's option wins
    assert result["config"]["data"]["init_args"]["root"] == str(tiny_synthetic_mil)      # the run's own data
    assert result["ckpt_path"] == str(ckpt.resolve())
    assert Path(result["extras"]["run_dir"]).parent == (tmp_path / "runs/rtfm/synthetic/retest").resolve()
    first = json.loads(next((work / "results").glob("*.json")).read_text())
    assert result["metrics"]["frame_auc_micro"] == pytest.approx(first["metrics"]["frame_auc_micro"])
    assert main(["predict", "--ckpt_path", str(ckpt), "--trainer.enable_progress_bar=false"]) == 0
    assert list(tmp_path.glob("runs/rtfm/synthetic/default/predict-seed0-*/predictions/rtfm-synthetic.csv"))


def test_a_checkpoint_without_its_run_folder_says_what_to_give(trained, tmp_path, monkeypatch, capsys):
    _, ckpt = trained
    monkeypatch.chdir(tmp_path)
    lone = tmp_path / "elsewhere" / "last.ckpt"
    lone.parent.mkdir()
    shutil.copy(ckpt, lone)
    assert main(["test", "--ckpt_path", str(lone)]) == 2
    err = capsys.readouterr().err
    assert f"--ckpt_path {lone}: no config.yaml in its run folder" in err and "give --config NAME" in err
    assert err.count("\n") == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]


@pytest.mark.parametrize("root", [None, "absent"])
def test_a_fit_that_fails_before_training_leaves_no_run_folder(root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["fit", "--config", "rtfm/ucf_crime.yaml"] + ([f"--data.init_args.root={tmp_path / root}"] if root else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert ("`vadbench data info ucf_crime` says what it holds" if root is None else "does not exist") in err
    assert "data_manifests/ucf_crime/manifest.yaml" not in err      # a path that exists only in a checkout
    assert list(tmp_path.iterdir()) == []                          # no runs/rtfm/ucf_crime/default/seed0-... left
