"""SSRL and MSIP from the CLI: configs parse, one stage fits and tests, the schedules chain real weights."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vadbench.cli import main

TINY_DATA = {"data": {"init_args": {
    "root": None, "feature_dim": 16, "num_segments": 8, "batch_size": 2,
    "synthetic": {"patch_grids": ["patch23", "patch35", "patch47"], "train_normal": 4, "train_abnormal": 4,
                  "test_normal": 3, "test_abnormal": 3, "min_snippets": 8, "max_snippets": 12, "crops": 1}}},
    "trainer": {"max_steps": 2, "logger": False}}   # the model gets feature_dim from the data (linked)


def _tiny(tmp_path: Path) -> str:
    cfg = json.loads(json.dumps(TINY_DATA))
    cfg["data"]["init_args"]["root"] = str(tmp_path / "data")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_ssrl_schedule_chains_stages_and_keeps_frozen_weights(tmp_path):
    tiny, out, results = _tiny(tmp_path), tmp_path / "sched", tmp_path / "results"
    rc = main(["ssrl_schedule", "--config", "ssrl/synthetic.yaml", "--scales", "patch23", "patch47", "--out", str(out),
               "--config", tiny, f"--results_dir={results}"])
    assert rc == 0
    summary = json.loads((out / "schedule.json").read_text())
    assert [s["patch_scales"] for s in summary] == [[], ["patch23"], ["patch23", "patch47"]]
    records = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    assert sorted(r["setting"] for r in records) == ["stage1", "stage2", "stage3"]
    assert all(r["model"] == "ssrl" and "frame_auc_micro" in r["metrics"] for r in records)
    states = [torch.load(s["checkpoint"], map_location="cpu", weights_only=False)["state_dict"] for s in summary]
    for prev, cur in zip(states, states[1:]):                      # frozen parts bit-identical after training
        assert set(prev) < set(cur)
        for k, v in prev.items():
            assert torch.equal(cur[k], v), k
    new3 = [k for k in states[2] if k not in states[1] and k.endswith("weight")]
    assert new3 and all("patch47" in k for k in new3)


def test_msip_schedule_and_single_stage_fit(tmp_path):
    tiny, out, results = _tiny(tmp_path), tmp_path / "sched", tmp_path / "results"
    assert main(["msip_schedule", "--config", "msip/synthetic.yaml", "--out", str(out), "--config", tiny,
                 f"--results_dir={results}"]) == 0
    summary = json.loads((out / "schedule.json").read_text())
    assert [s["patch_scales"] for s in summary] == [[], ["patch23", "patch35", "patch47"]]
    s1, s2 = (torch.load(s["checkpoint"], map_location="cpu", weights_only=False)["state_dict"] for s in summary)
    assert all(torch.equal(s2[k], v) for k, v in s1.items())
    assert main(["fit", "--config", "ssrl/synthetic.yaml", "--config", tiny, f"--results_dir={results}",
                 f"--trainer.default_root_dir={tmp_path / 'runs'}", "--setting=joint"]) == 0
    joint = [json.loads(p.read_text()) for p in results.glob("ssrl*joint*.json")]
    assert len(joint) == 1 and joint[0]["extras"]["patch_scales"] == ["patch23", "patch35", "patch47"]


def test_heatmaps_and_complexity_verbs(tmp_path, capsys):
    tiny = _tiny(tmp_path)
    ckpt_dir = tmp_path / "ckpt"
    assert main(["fit", "--config", "ssrl/synthetic.yaml", "--config", tiny, "--run_test=false",
                 f"--checkpoint.dirpath={ckpt_dir}", f"--trainer.default_root_dir={tmp_path / 'runs'}"]) == 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = tmp_path / "frame.png"
    plt.imsave(frame, np.random.default_rng(0).random((48, 84, 3)))
    out = tmp_path / "maps"
    assert main(["ssrl_heatmap", "--config", "ssrl/synthetic.yaml", "--config", tiny, "--ckpt_path",
                 str(ckpt_dir / "last.ckpt"), "--frame", str(frame), "--out", str(out)]) == 0
    grids = {p.name.rsplit("_", 1)[1]: np.load(p) for p in out.glob("*.npy")}
    assert {k: v.shape for k, v in grids.items()} == {"patch23.npy": (2, 3), "patch35.npy": (3, 5), "patch47.npy": (4, 7)}
    assert all(v.min() == 0 and v.max() == pytest.approx(1) for v in grids.values())
    assert [p.name.rsplit("_", 1)[1] for p in out.glob("*.png")] == ["heatmap.png"]  # one Fig. 6-style panel
    bare = tmp_path / "bare"   # without --frame: the patch grids alone, still a PNG
    assert main(["ssrl-heatmap", "--config", "ssrl/synthetic.yaml", "--config", tiny, "--ckpt_path",
                 str(ckpt_dir / "last.ckpt"), "--out", str(bare)]) == 0
    assert len(list(bare.glob("*_heatmap.png"))) == 1 and len(list(bare.glob("*.npy"))) == 3
    capsys.readouterr()
    assert main(["complexity", "--config", "ssrl/ucf_crime.yaml", "--model.init_args.net.init_args.mpa_conv=official", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["params"] == pytest.approx(192.0e6, rel=0.002)
    assert report["macs_per_video"] == pytest.approx(57.7e9, rel=0.01)    # MSIP poster's SSRL row
