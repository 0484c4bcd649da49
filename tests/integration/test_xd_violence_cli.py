"""XD-Violence and the per-crop layout from the command line: `vadbench synth mil --layout xd_violence` then
`vadbench fit --config rtfm/xd_violence.yaml --data.init_args.root DIR` from another folder; the same for
Wu et al.'s per-crop UCF-Crime layout; the leaderboard's XD-Violence table leads with AP; bad crop files
stop the run before training with one error naming the file; `vadbench data verify|info xd_violence`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REFERENCE, require
from vadbench.cli import main

SMALL = ["--feature-dim", "16", "--crops", "3", "--train-normal", "4", "--train-abnormal", "4", "--test-normal", "3",
         "--test-abnormal", "3", "--min-snippets", "20", "--max-snippets", "40"]


def _fit_args(tmp: Path, *extra: str) -> list[str]:
    return ["--data.init_args.feature_dim=16", "--data.init_args.crops=3", "--data.init_args.batch_size=2",
            "--trainer.max_steps=2", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={tmp / 'runs'}",
            f"--results_dir={tmp / 'results'}", *extra]


@pytest.fixture(scope="module")
def xd_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("xd") / "synth_xd"
    assert main(["synth", "mil", "--layout", "xd_violence", "--out", str(out), *SMALL]) == 0
    return out


def test_synth_xd_writes_the_per_crop_xd_layout(xd_set):
    lines = (xd_set / "test.list").read_text().splitlines()
    assert len(lines) == 6 * 3 and lines[0].startswith("E:/DLCode/") and lines[0].endswith("__0.npy")
    ann = (xd_set / "XD_Annotation.txt").read_text().splitlines()
    assert len(ann) == 3 and all("_label_A" not in line for line in ann)      # violent videos only
    assert sum("_label_A" in line for line in lines) == 3 * 3
    crop = sorted(xd_set.rglob("*__2.npy"))[0]
    assert np.load(crop).ndim == 2 and np.load(crop).shape[1] == 16


def test_fit_rtfm_xd_violence_on_the_synthetic_set_from_another_folder(xd_set, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", "rtfm/xd_violence.yaml", f"--data.init_args.root={xd_set}",
                 *_fit_args(tmp_path)]) == 0
    [result] = (tmp_path / "results").glob("*.json")
    rec = json.loads(result.read_text())
    assert rec["dataset"] == "xd_violence" and rec["data_source"] == "synthetic"   # never passed off as real XD
    assert {"frame_pr_auc_micro", "frame_auc_abnormal", "frame_ap_abnormal", "frame_far_normal"} <= set(rec["metrics"])
    assert "score > 0.5" in rec["extras"]["metric_definitions"]["frame_far_normal"]
    assert rec["config"]["data"]["init_args"]["feature_layout"] == "per_crop"

    # the leaderboard: an XD-Violence table whose first metric is AP (the official PR-AUC), then the rest; RTFM's
    # published AP (quoted by Holmes-VAD) stands beside it, with no difference for synthetic data
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "board")]) == 0
    board = (tmp_path / "board" / "README.md").read_text()
    header, row = board.split("### xd_violence", 1)[1].strip().splitlines()[0:3:2]
    metric_columns = [c.strip() for c in header.strip("|").split("|")][6:]
    ours = [c for c in metric_columns if c.endswith(" ours")]
    assert ours[:3] == ["frame AP, official PR-AUC (%) ours", "frame AP (%) ours", "frame AUC (%) ours"]
    assert metric_columns[:3] == ["frame AP, official PR-AUC (%) ours", "paper", "Δ"]
    assert [c.strip() for c in row.strip("|").split("|")][7:9] == ["77.81 [Holmes-VAD table1]", "—"]
    assert "AP_A, anomalous videos (%) ours" in ours and "FAR, normal videos (%) ours" in ours


def test_fit_on_a_per_crop_ucf_crime_synthetic_set(tmp_path, monkeypatch):
    out = tmp_path / "synth_ucf"
    assert main(["synth", "mil", "--layout", "ucf_crime_per_crop", "--out", str(out), *SMALL]) == 0
    assert (out / "train.list").read_text().startswith("dataset/Abuse/Abuse001_x264__0.npy")
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", "sultani/ucf_crime.yaml", "--config", "data/ucf_crime_i3d1024.yaml",
                 f"--data.init_args.root={out}", *_fit_args(tmp_path)]) == 0
    [result] = (tmp_path / "results").glob("*.json")
    rec = json.loads(result.read_text())
    assert rec["dataset"] == "ucf_crime" and rec["data_source"] == "synthetic" and rec["metrics"]["num_videos"] == 6


def _fails(capsys, argv, *expected):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.startswith("vadbench: error:")]) == 1, err
    for e in expected:
        assert e in err, (e, err)


@pytest.mark.parametrize("case", ["missing crop", "crop of another T", "crop of another dim"])
def test_bad_crop_files_stop_the_fit_before_training(case, xd_set, tmp_path, capsys):
    root = tmp_path / "xd"
    shutil.copytree(xd_set, root)
    crop = sorted((root / "features" / "train").glob("*__1.npy"))[2]
    arr = np.load(crop)
    if case == "missing crop":
        crop.unlink()
        expected = [f"crop file {crop.name} not found under {root}"]
    elif case == "crop of another T":
        np.save(crop, arr[:-3])
        expected = [f"crop file {crop}: T = {len(arr) - 3} snippets but crop 0", "the crops of a video must have the same length"]
    else:
        np.save(crop, np.ones((len(arr), 12), np.float32))
        expected = [f"{crop}: feature dim 12 but the config expects 16"]
    _fails(capsys, ["fit", "--config", "rtfm/xd_violence.yaml", f"--data.init_args.root={root}", *_fit_args(tmp_path)],
           *expected)
    assert not list((tmp_path / "runs").rglob("*.ckpt"))   # nothing trained


def test_data_info_and_verify_xd_violence(tmp_path, capsys):
    from vadbench.data.manifest import manifest_split

    assert main(["data", "info", "xd_violence"]) == 0
    info = capsys.readouterr().out
    assert "test_abnormal: 500" in info and "layout: per_crop" in info
    root = tmp_path / "xd"
    root.mkdir()
    rng = np.random.default_rng(0)
    for e in manifest_split("xd_violence", "test"):
        for c in range(5):
            np.save(root / f"{e.name}__{c}.npy", rng.random((4, 2), dtype=np.float32))
    shutil.copy(require(REFERENCE / "henrryzh1_UR-DMU" / "list" / "XD_Annotation.txt"), root)
    victim = root / f"{manifest_split('xd_violence', 'test')[7].name}__3.npy"
    victim.unlink()
    assert main(["data", "verify", "xd_violence", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "test: 799/800 listed feature files present" in out and "train: 0/3954" in out
    assert f"missing crop file {victim.name} not found" in out
    assert "checksum XD_Annotation.txt: ok" in out


def test_synthetic_xd_data_part_generates_the_per_crop_set_on_first_use(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    synthetic = ("{layout: xd_violence, train_normal: 4, train_abnormal: 4, test_normal: 3, test_abnormal: 3, "
                 "min_snippets: 20, max_snippets: 40}")
    assert main(["fit", "--config", "model/rtfm.yaml", "--config", "recipe/rtfm_official.yaml", "--config",
                 "data/synthetic_xd.yaml", f"--data.init_args.synthetic={synthetic}", "--seed_everything=0",
                 *_fit_args(tmp_path)]) == 0
    [result] = (tmp_path / "results").glob("*.json")
    rec = json.loads(result.read_text())
    assert rec["dataset"] == "synthetic" and rec["metrics"]["num_videos"] == 6
    import os

    home = Path(os.environ["VADBENCH_HOME"])   # a per-session temp folder (tests/conftest.py)
    generated = [d for d in home.glob("synthetic_mil_*")
                 if json.loads((d / "synthetic.json").read_text()).get("layout") == "xd_violence"]
    assert generated and all((d / "XD_Annotation.txt").is_file() and list(d.rglob("*__2.npy")) for d in generated)  # crops=3
