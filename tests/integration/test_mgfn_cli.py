"""MGFN through the CLI: the authors' checkpoint format tests to the official scores; the synthetic fit
runs from any folder.

The official-format checkpoint is the state_dict the official code saves (`torch.save(model.state_dict())`
in main.py) with the formula weights of tests/golden/data (seed golden-mgfn-v1): rebuilt here from the
key table in float32 and checked against the digest the golden harness took of the file the official
code wrote. Its expected scores are the official `test()` on the same four videos (fixture
`mgfn_official_checkpoint.npz`, README "MGFN").
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.golden.official import feature_file, key_table, load, official_state
from vadbench.leaderboard.scores import load_scores, scores_path_for
from vadbench.models.components.weights import WeightsError

REPO = Path(__file__).resolve().parents[2]


def official_checkpoint(path: Path, mutate=None) -> str:
    """Write the official-format .pkl (keys in the official order, float32; BatchNorm counters int64)."""
    state64 = official_state("mgfn_official", seed="golden-mgfn-v1")
    state = OrderedDict()
    for row in key_table("mgfn_official"):
        value = state64[row["key"]]
        state[row["key"]] = value if row["rule"] == "zero" else value.float()
    if mutate:
        mutate(state)
    torch.save(state, path)
    h = hashlib.sha256()
    for k, v in state.items():
        h.update(k.encode())
        h.update(v.contiguous().numpy().tobytes())
    return h.hexdigest()


def ucf_like_root(root: Path, meta: dict) -> dict[str, str]:
    """The fixture's four test videos as a UCF-Crime feature folder with its lists and annotation."""
    root.mkdir(parents=True, exist_ok=True)
    lines, split = [], []
    for v in meta["videos"]:
        np.save(root / f"{v['name']}_i3d.npy", feature_file(v["key"], v["T"], 10))
        iv = v["intervals"] + [[-1, -1]] * (2 - len(v["intervals"]))
        lines.append(f"{v['name']}.mp4  {'Normal' if not v['intervals'] else 'Event'}  "
                     + "  ".join(f"{s}  {e}" for s, e in iv))
        split.append(f"{v['name']} {0 if v['name'].startswith('Normal') else 1}")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text("\n".join(lines) + "\n")
    (root / "split.txt").write_text("\n".join(split) + "\n")
    return {"root": str(root), "split": str(root / "split.txt")}


@pytest.mark.slow
def test_the_authors_checkpoint_format_tests_through_the_cli_to_the_official_scores(tmp_path, monkeypatch):
    from vadbench.trainer_cli import run_cli

    arrays, meta = load("mgfn_official_checkpoint")
    ckpt = tmp_path / "mgfn_ucf.pkl"
    assert official_checkpoint(ckpt) == meta["weights_sha256"]        # = the file the official code saved
    data = ucf_like_root(tmp_path / "ucf", meta)
    monkeypatch.chdir(tmp_path)
    run_cli(["test", "--config", "mgfn/ucf_crime.yaml", "--ckpt_path", str(ckpt),
             f"--data.init_args.root={data['root']}", f"--data.init_args.test_list={data['split']}",
             f"--data.init_args.train_list={data['split']}", "--trainer.enable_progress_bar=false",
             "--trainer.default_root_dir=runs", "--results_dir=results"])
    (result,) = sorted((tmp_path / "results").glob("mgfn__ucf_crime__*.json"))
    record = json.loads(result.read_text())
    assert record["extras"]["weights"]["source"] == "authors' checkpoint"
    assert record["extras"]["weights"]["file"] == str(ckpt.resolve())
    # the official test(): roc_curve / auc on each snippet score repeated 16 times, gt-ucf.npy's frames
    assert abs(record["metrics"]["frame_auc_micro"] - meta["rec_auc"]) < 1e-6
    assert abs(record["metrics"]["frame_pr_auc_micro"] - meta["pr_auc"]) < 1e-6
    scores = load_scores(scores_path_for(result))
    for v in meta["videos"]:
        np.testing.assert_allclose(scores.video(v["name"]).snippet_scores, arrays[f"scores_{v['name']}"],
                                   rtol=0, atol=2e-6)
    labels = np.concatenate([scores.video(v["name"]).frame_labels for v in meta["videos"]])
    np.testing.assert_array_equal(labels, arrays["gt_concat"])      # the official gt the harness built


def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_file():
    """An official-format state (the official key names, a small network of the official depths), then
    one tensor of another shape, or a key MGFN does not have: a WeightsError naming the file."""
    from vadbench.models.components.official_checkpoints import OFFICIAL_KEY
    from vadbench.models.mgfn import MGFN, MGFNLoss, MGFNModel
    from vadbench.models.mgfn.official_checkpoint import official_key

    net = MGFNModel(feature_dim=12, dims=[8, 16, 32], dim_head=8)
    module = MGFN(net=net, loss=MGFNLoss(), optimizer=torch.optim.Adam)
    ours = net.state_dict()
    state = {row["key"]: ours[official_key(row["key"])] for row in key_table("mgfn_official")}
    state = {k: v.reshape(1, -1, 1) if k.endswith((".g", ".b")) else v for k, v in state.items()}   # (1, C, 1)
    wrapped = {OFFICIAL_KEY: {"file": "/data/mgfn_ucf.pkl", "sha256": "", "state": state}}
    module.on_load_checkpoint(wrapped)                                   # fits: converted, no error
    assert set(wrapped["state_dict"]) == set(module.state_dict())
    for change, expected in ((("fc.weight", torch.zeros(1, 512)), "another shape"),
                             (("head.weight", torch.zeros(3)), "no MGFN counterpart")):
        wrapped = {OFFICIAL_KEY: {"file": "/data/mgfn_ucf.pkl", "sha256": "", "state": {**state, change[0]: change[1]}}}
        with pytest.raises(WeightsError, match=f"/data/mgfn_ucf.pkl.*{expected}"):
            module.on_load_checkpoint(wrapped)


@pytest.mark.slow
def test_synthetic_fit_runs_from_any_folder(tmp_path):
    """`vadbench fit --config mgfn/synthetic.yaml` from a folder outside the repository (a small network
    and two steps: test_models.py fits the packaged sizes)."""
    env = {**os.environ, "VADBENCH_HOME": str(tmp_path / "home")}
    net = "--model.init_args.net.init_args"
    out = subprocess.run(
        [sys.executable, "-m", "vadbench.cli", "fit", "--config", "mgfn/synthetic.yaml", "--trainer.max_steps=2",
         f"{net}.dims=[8,16,32]", f"{net}.depths=[1,1,1]", f"{net}.dim_head=8",
         "--data.init_args.synthetic={train_normal: 8, train_abnormal: 8, test_normal: 4, test_abnormal: 4}",
         "--data.init_args.batch_size=4", "--trainer.enable_progress_bar=false",
         "--trainer.enable_model_summary=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (result,) = (tmp_path / "results").glob("mgfn__synthetic__default__seed0__*.json")
    record = json.loads(result.read_text())
    assert record["model"] == "mgfn" and 0.0 <= record["metrics"]["frame_auc_micro"] <= 1.0
    assert (tmp_path / "runs" / "mgfn" / "synthetic").is_dir()
