"""The issue's claim on the synthetic multi-scale patch set (fixed seed, CPU-sized): the full SSRL,
trained step by step as the paper does, beats RTFM and its own clip-only stage.

One `vadbench ssrl_schedule` (stage 1 clip only, then +2x3, +3x5, +4x7, each stage starting from the
previous stage's frozen weights) and one `vadbench fit` of RTFM on the same clip features.
Measured (seed 0, 300 steps a stage): RTFM 0.624 = stage 1 0.624 -> 0.679 -> 0.700 -> 0.729 (identical
before and after the parts/compose refactor of issue 16; earlier notes said 0.627 -> 0.689 -> 0.705 -> 0.751).
Those numbers, and this test, are of the paper recipe (`recipe/rtfm_paper.yaml` / `recipe/ssrl_paper.yaml`,
the packaged default before issue 12), pinned here; re-measured on this branch with the paper recipe:
RTFM 0.652 = stage 1 -> 0.729 -> 0.752 -> 0.780 (the change from the numbers above predates the recipe
overlays; not traced). With the official recipe (the default since issue 12)
the same run gave RTFM 0.610 = stage 1 -> 0.730 -> 0.717 -> 0.703: the full SSRL still beats RTFM by 0.09,
but the scales do not add monotonically on this synthetic set.
"""

import json

import pytest
import yaml

from vadbench.cli import main

SYNTHETIC = {"patch_grids": ["patch23", "patch35", "patch47"], "feature_dim": 32, "crops": 2, "train_normal": 48,
             "train_abnormal": 48, "test_normal": 16, "test_abnormal": 16, "min_snippets": 32, "max_snippets": 48}


def _override(tmp_path) -> str:
    data = {"root": str(tmp_path / "data"), "feature_dim": 32, "num_segments": 32, "batch_size": 8,
            "synthetic": SYNTHETIC}
    cfg = {"seed_everything": 0,
           "trainer": {"max_steps": 300, "logger": False, "enable_progress_bar": False, "enable_model_summary": False},
           "data": {"init_args": data}}   # feature_dim reaches the models through the data (linked)
    path = tmp_path / "benchmark.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.slow
def test_full_ssrl_beats_rtfm_and_its_clip_only_stage(tmp_path):
    results, override = tmp_path / "results", _override(tmp_path)
    assert main(["fit", "--config", "rtfm/synthetic.yaml", "--config", "recipe/rtfm_paper.yaml", "--config", override,
                 f"--results_dir={results}",
                 f"--trainer.default_root_dir={tmp_path / 'rtfm'}"]) == 0
    assert main(["ssrl_schedule", "--config", "ssrl/synthetic.yaml", "--config", "recipe/ssrl_paper.yaml",
                 "--config", override,
                 "--out", str(tmp_path / "schedule"), f"--results_dir={results}"]) == 0
    auc = {}
    for p in results.glob("*.json"):
        r = json.loads(p.read_text())
        auc[r["setting"] if r["model"] == "ssrl" else r["model"]] = r["metrics"]["frame_auc_micro"]
    print(auc)
    assert set(auc) == {"rtfm", "stage1", "stage2", "stage3", "stage4"}
    assert auc["stage1"] == pytest.approx(auc["rtfm"], abs=1e-6)   # the clip-only stage is RTFM
    assert auc["rtfm"] > 0.58                                      # the clip's diluted anomalies are learnable
    assert auc["stage4"] > auc["rtfm"] + 0.05                      # full SSRL beats RTFM / the clip-only stage
    assert auc["stage4"] > auc["stage2"]                           # more scales help (Table 3's trend)
