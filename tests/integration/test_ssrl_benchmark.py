"""SSRL vs RTFM on the synthetic multi-scale patch set (fixed seed, CPU-sized).

The issue's criterion (the full SSRL beats RTFM and its clip-only stage by a margin) does NOT hold
at this budget; see docs/ssrl_msip.md for the measured numbers. This test checks what does hold:
the clip view carries a diluted anomaly that RTFM (= SSRL's clip-only stage) learns, and an SSRL
stage that adds every patch scale on top of the frozen RTFM weights (official staged training)
does not lose what the clip-only stage had.
"""

import json

import pytest
import yaml

from vadbench.cli import main

SYNTHETIC = {"patch_grids": ["patch23", "patch35", "patch47"], "feature_dim": 32, "crops": 2, "train_normal": 24,
             "train_abnormal": 24, "test_normal": 8, "test_abnormal": 8, "min_snippets": 32, "max_snippets": 48,
             "patch_event_strength": 3.0, "frame_event_fraction": 0.1, "medium_event_fraction": 0.3}


def _override(tmp_path, name, patch_scales):
    data = {"root": str(tmp_path / "data"), "feature_dim": 32, "num_segments": 32, "batch_size": 8,
            "patch_scales": patch_scales, "synthetic": SYNTHETIC}
    cfg = {"seed_everything": 0,
           "trainer": {"max_steps": 150, "logger": False, "enable_progress_bar": False, "enable_model_summary": False},
           "model": {"init_args": {"feature_dim": 32}}, "data": {"init_args": data}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.slow
def test_rtfm_learns_the_diluted_clip_and_a_frozen_ssrl_stage_keeps_it(tmp_path):
    results = tmp_path / "results"
    assert main(["fit", "--config", "rtfm/synthetic.yaml", "--config", _override(tmp_path, "rtfm", []),
                 f"--results_dir={results}", f"--trainer.default_root_dir={tmp_path / 'rtfm'}"]) == 0
    rtfm_ckpt = next((tmp_path / "rtfm").rglob("last.ckpt"))
    scales = SYNTHETIC["patch_grids"]
    assert main(["fit", "--config", "ssrl/synthetic.yaml", "--config", _override(tmp_path, "ssrl", scales),
                 f"--results_dir={results}", f"--trainer.default_root_dir={tmp_path / 'ssrl'}", "--setting=frozen_clip",
                 f"--model.init_args.stage_checkpoint={rtfm_ckpt}", "--model.init_args.freeze_loaded=true"]) == 0
    auc = {}
    for p in results.glob("*.json"):
        r = json.loads(p.read_text())
        auc[r["model"]] = r["metrics"]["frame_auc_micro"]
    print(auc)
    assert set(auc) == {"rtfm", "ssrl"}
    assert auc["rtfm"] > 0.62                       # measured 0.674: the clip's diluted anomaly is learnable
    assert auc["ssrl"] > auc["rtfm"] - 0.02         # measured 0.6825: the patch branch does not destroy it
