"""The README's real-Ped2 commands as written (`vadbench extract ... --snippet-len 8`, then
`vadbench fit --config rtfm/ucsd_ped2.yaml` with only the root, feature dims and annotations set):
frames per snippet comes from the extraction sidecars, so the evaluation scores exactly the 2010
real test frames with the right labels; a config that insists on 16 gets a clear error.

Real frames from ../shared/real_data (skipped when absent); slow (extraction + a short fit).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "real_data"
PED2 = SHARED / "yatoyun_test_ssctb" / "data" / "ped2"
UCSD_M = SHARED / "aashimanigam_Video-Anomaly-Detection-System" / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2" / "Test" / "UCSDped2.m"
# README "Feature extraction": the real-Ped2 line, outputs in a temp folder
README_EXTRACT = ["--layout", "ucsd_ped2", "--backbone", "tiny3d", "--snippet-len", "8", "--resize", "120x180",
                  "--crop", "full", "--no-progress"]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.skipif(not (PED2.is_dir() and UCSD_M.is_file()), reason="../shared real Ped2 data absent")]


def _true_labels() -> dict[str, np.ndarray]:
    """Frame labels of the pinned test split built here from UCSDped2.m and the frame folders."""
    intervals = re.findall(r"gt_frame\s*=\s*\[([^\]]*)\]", UCSD_M.read_text())
    names = [l.split()[0] for l in (REPO / "data_manifests/ucsd_ped2/test.txt").read_text().splitlines() if l.strip()]
    out = {}
    for name in names:
        split, prefix = ("testing", "Test") if name.startswith("Test") else ("training", "Train")
        n = len(list((PED2 / split / "frames" / f"{int(name[len(prefix):]):02d}").glob("*.jpg")))
        labels = np.zeros(n, np.int64)
        if prefix == "Test":
            for chunk in intervals[int(name[4:]) - 1].replace(",", " ").split():
                a, _, b = chunk.partition(":")
                labels[int(a) - 1: int(b or a)] = 1
        out[name] = labels
    return out


def test_readme_ped2_commands_give_2010_frames_and_the_right_auc(tmp_path, capsys):
    from vadbench.cli import main as vadbench_main
    from vadbench.commands.extract import main as extract_main
    from vadbench.leaderboard.scores import load_scores, scores_path_for

    feats = tmp_path / "features" / "ped2"
    assert extract_main([str(PED2), str(feats), *README_EXTRACT, "--workers", "1"]) == 0
    common = ["fit", "--config", "rtfm/ucsd_ped2.yaml", f"--data.init_args.root={feats}",
              "--data.init_args.feature_dim=128",
              f"--data.init_args.annotations={UCSD_M}", "--trainer.max_steps=20",
              "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path / 'runs'}",
              f"--results_dir={tmp_path / 'results'}"]
    assert vadbench_main(common) == 0
    (path,) = (tmp_path / "results").glob("*.json")
    rec = json.loads(path.read_text())
    m = rec["metrics"]
    assert m["num_frames"] == 2010 and m["num_videos"] == 12
    assert rec["extras"]["frames_per_snippet"] == 8
    # the AUC the run reports is the AUC of its snippet scores against labels built independently
    truth = _true_labels()
    saved = load_scores(scores_path_for(path))
    scores, labels = [], []
    for v in saved.videos:
        assert v.frames_per_snippet == 8 and len(v.frame_labels) == len(truth[v.name])
        assert np.array_equal(v.frame_labels, truth[v.name]), v.name
        scores.append(np.repeat(v.snippet_scores, 8)[: len(truth[v.name])])
        labels.append(truth[v.name])
    assert sum(len(l) for l in labels) == 2010
    assert abs(roc_auc_score(np.concatenate(labels), np.concatenate(scores)) - m["frame_auc_micro"]) < 1e-6  # logged as float32
    capsys.readouterr()
    # a config that says 16 frames per snippet is refused, naming both values and the sidecar
    assert vadbench_main([*common, "--data.init_args.frames_per_snippet=16"]) != 0
    err = capsys.readouterr().err
    assert "frames_per_snippet is 16" in err and "stride = 8" in err and "_i3d.npy.json" in err
    assert "Traceback" not in err
