"""UR-DMU and BN-WVAD through the CLI: an authors' checkpoint (the official state_dict format, as the
golden harness saved it with `torch.save(net.state_dict())`) tests to the golden harness's scores.

The checkpoint holds the golden formula weights under the official keys, in float32 (what the official
code saves); the test videos are the golden test videos (5 crops, D = 1024) in XD-Violence's per-crop
layout, tested with the packaged `<model>/xd_violence.yaml` as a user types it. The per-video scores
`vadbench test` saves must equal the official code's float32 test path recorded in the fixtures, and the
result must say that the weights are the authors'.
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

# model -> (golden fixture, key table, weight seed)
MODELS = {
    "urdmu": ("urdmu_official_golden", "urdmu_official", "golden-urdmu-v1"),
    "bn_wvad": ("bn_wvad_official_golden", "bn_wvad_official", "golden-bnwvad-v1"),
}
NAMES = {"test0": "Golden.Test0.2023__#00-00-00_00-00-45_label_B1-0-0",      # violent
         "test1": "Golden.Test1.2023__#00-01-00_00-01-37_label_A"}           # normal
LIST_DIR = "E:/DLCode/datasets/ECCV2020XD-Violence/i3d-features/RGBTest/"   # as the official lists name them


def golden_videos_as_xd(root: Path, meta: dict) -> Path:
    """The golden test videos in XD-Violence's per-crop layout (`<video>__<c>.npy`, each [T, 1024]; the
    official list format; XD_Annotation.txt), marked as a generated set (`synthetic.json`)."""
    (root / "features").mkdir(parents=True)
    lines = []
    for key, t in meta["test_videos"].items():
        name = NAMES[key.rsplit("/", 1)[1]]
        video = feature_file(key, t, meta["crops"], meta["feature_dim"])                 # [T, 5, 1024]
        for c in range(meta["crops"]):
            np.save(root / "features" / f"{name}__{c}.npy", np.ascontiguousarray(video[:, c]))
            lines.append(f"{LIST_DIR}{name}__{c}.npy")
    for split in ("train", "test"):
        (root / f"{split}.list").write_text("\n".join(lines) + "\n")
    (root / "XD_Annotation.txt").write_text(f"{NAMES['test0']} 161 400\n")
    (root / "synthetic.json").write_text(json.dumps({"layout": "xd_violence", "crops": meta["crops"],
                                                     "feature_dim": meta["feature_dim"], "frames_per_snippet": 16}))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(MODELS))
def test_an_official_checkpoint_tests_through_the_cli_to_the_golden_scores(model, tmp_path):
    fixture, keys, seed = MODELS[model]
    arrays, meta = load(fixture)
    root = golden_videos_as_xd(tmp_path / "data", meta)
    official = tmp_path / f"{model}_official.pkl"      # as the official code saves it: float32 state_dict
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in official_state(keys, seed=seed).items()},
               official)
    assert main(["test", "--config", f"{model}/xd_violence.yaml", f"--data.init_args.root={root}", f"--ckpt_path={official}",
                 "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                 f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={tmp_path / 'results'}"]) == 0
    (record,) = load_records([tmp_path / "results"])
    assert record["extras"]["weights"]["source"] == "authors' checkpoint"
    assert record["extras"]["weights"]["file"] == str(official.resolve())
    scores = load_scores(next((tmp_path / "results").glob("*.scores.npz")))
    for key, name in NAMES.items():
        np.testing.assert_allclose(scores.video(name).snippet_scores, arrays[f"{key}_scores_f32"], rtol=1e-5, atol=2e-6)
