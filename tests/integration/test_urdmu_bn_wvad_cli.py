"""UR-DMU and BN-WVAD through the CLI: an authors' checkpoint (the official state_dict format, as the
golden harness saved it with `torch.save(net.state_dict())`) tests to the golden harness's scores.

The checkpoint holds the golden formula weights under the official keys, in float32 (what the official
code saves); the test videos are the golden test videos (5 crops, D = 1024) in the synthetic data
layout. The per-video scores `vadbench test` saves must equal the official code's float32 test path
recorded in the fixtures, and the result must say that the weights are the authors'.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.golden.official import feature_file, load, official_state
from vadbench.cli import main
from vadbench.leaderboard.scores import load_scores
from vadbench.results import load_records

# model -> (golden fixture, key table, weight seed, the official widths the synthetic config shrinks)
MODELS = {
    "urdmu": ("urdmu_official_golden", "urdmu_official", "golden-urdmu-v1"),
    "bn_wvad": ("bn_wvad_official_golden", "bn_wvad_official", "golden-bnwvad-v1"),
}
OFFICIAL_WIDTHS = ["--model.init_args.net.init_args.embed_dim=512", "--model.init_args.net.init_args.dim_head=128",
                   "--model.init_args.net.init_args.mlp_dim=512"]
NAMES = {"test0": "Abuse500_x264", "test1": "Normal_Videos_900_x264"}   # anomalous, normal


def golden_videos_as_dataset(root: Path, meta: dict) -> Path:
    """The golden test videos in the synthetic layout ([T, crops, D] `<name>_i3d.npy`, lists, UCF-style
    annotation), used as they are (`synthetic.json` present)."""
    (root / "features").mkdir(parents=True)
    for key, t in meta["test_videos"].items():
        name = NAMES[key.rsplit("/", 1)[1]]
        np.save(root / "features" / f"{name}_i3d.npy", feature_file(key, t, meta["crops"], meta["feature_dim"]))
    names = [f"{n}_i3d.npy" for n in NAMES.values()]
    for split in ("train", "test"):
        (root / f"{split}.list").write_text("\n".join(names) + "\n")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Abuse500_x264.mp4  Abuse  161  400  -1  -1\nNormal_Videos_900_x264.mp4  Normal  -1  -1  -1  -1\n")
    (root / "synthetic.json").write_text(json.dumps({"note": "golden test videos"}))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(MODELS))
def test_an_official_checkpoint_tests_through_the_cli_to_the_golden_scores(model, tmp_path):
    fixture, keys, seed = MODELS[model]
    arrays, meta = load(fixture)
    root = golden_videos_as_dataset(tmp_path / "data", meta)
    official = tmp_path / f"{model}_official.pkl"      # as the official code saves it: float32 state_dict
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in official_state(keys, seed=seed).items()},
               official)
    assert main(["test", "--config", f"{model}/synthetic.yaml", f"--data.init_args.root={root}",
                 f"--data.init_args.feature_dim={meta['feature_dim']}", *OFFICIAL_WIDTHS, f"--ckpt_path={official}",
                 "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                 f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={tmp_path / 'results'}"]) == 0
    (record,) = load_records([tmp_path / "results"])
    assert record["extras"]["weights"]["source"] == "authors' checkpoint"
    assert record["extras"]["weights"]["file"] == str(official.resolve())
    scores = load_scores(next((tmp_path / "results").glob("*.scores.npz")))
    for key, name in NAMES.items():
        np.testing.assert_allclose(scores.video(name).snippet_scores, arrays[f"{key}_scores_f32"], rtol=1e-5, atol=2e-6)
