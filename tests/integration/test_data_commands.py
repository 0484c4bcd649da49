import shutil

import numpy as np

from tests.conftest import REAL, require
from vadbench.cli import main
from vadbench.data.manifest import manifest_split

UCSD_M = REAL / "aashimanigam_Video-Anomaly-Detection-System" / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2" / "Test" / "UCSDped2.m"


def _ped2_root(tmp_path):
    root = tmp_path / "ped2"
    root.mkdir()
    for split in ("train", "test"):
        for e in manifest_split("ucsd_ped2", split):
            np.save(root / f"{e.name}_i3d.npy", np.random.default_rng(0).random((12, 1, 8), dtype=np.float32))
    return root


def test_data_verify_reports_missing_bad_and_checksums(tmp_path, capsys):
    root = _ped2_root(tmp_path)
    shutil.copy(require(UCSD_M), root / "UCSDped2.m")
    assert main(["data", "verify", "ucsd_ped2", "--root", str(root), "--deep"]) == 0
    out = capsys.readouterr().out
    assert "checksum UCSDped2.m: ok" in out and "ucsd_ped2: OK" in out and "checked against all 12 test videos" in out

    (root / "Test003_i3d.npy").unlink()
    bad = np.ones((12, 1, 8), np.float32)
    bad[3, 0, 1] = np.inf
    np.save(root / "Train002_i3d.npy", bad)
    (root / "UCSDped2.m").write_text((root / "UCSDped2.m").read_text() + "\n% edited\n")
    assert main(["data", "verify", "ucsd_ped2", "--root", str(root), "--deep"]) == 1
    out = capsys.readouterr().out
    assert "missing feature file Test003_i3d.npy" in out
    assert "Train002_i3d.npy: contains NaN/Inf" in out
    assert "checksum UCSDped2.m: MISMATCH" in out


def test_synth_mil_writes_the_ucf_layout_deterministically(tmp_path, capsys):
    args = ["--train-normal", "3", "--train-abnormal", "3", "--test-normal", "2", "--test-abnormal", "2",
            "--feature-dim", "8", "--crops", "2"]
    assert main(["synth", "mil", "--out", str(tmp_path / "a"), *args]) == 0
    assert main(["synth", "mil", "--out", str(tmp_path / "b"), *args]) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "train.list").read_text() == (b / "train.list").read_text()
    files = sorted((a / "features").rglob("*.npy"))
    assert len(files) == 10 and np.load(files[0]).shape[1:] == (2, 8)
    assert all(np.array_equal(np.load(f), np.load(b / f.relative_to(a))) for f in files)
    ann = (a / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").read_text().splitlines()
    assert len(ann) == 4 and sum("Normal" in line for line in ann) == 2
