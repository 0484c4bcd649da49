"""Evaluation under DDP counts each test video exactly once: 1 and 2 processes give identical AUC."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from vadbench.results import load_records


@pytest.mark.slow
def test_two_process_ddp_auc_equals_single_process(tmp_path):
    from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil

    # 13 test videos: an odd count, so a padded sampler would repeat one on the second rank
    root = write_synthetic_mil(tmp_path / "data", SyntheticMILConfig(
        feature_dim=16, crops=2, train_normal=8, train_abnormal=8, test_normal=7, test_abnormal=6,
        min_snippets=16, max_snippets=40))
    common = ["--config", "rtfm/synthetic.yaml", f"--data.init_args.root={root}",
              "--data.init_args.feature_dim=16",
              "--data.init_args.batch_size=4", "--trainer.enable_progress_bar=false",
              f"--trainer.default_root_dir={tmp_path / 'runs'}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cli = [shutil.which("vadbench") or sys.executable, *([] if shutil.which("vadbench") else ["-m", "vadbench.cli"])]

    def run(args):
        out = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    run(["fit", *common, "--trainer.max_steps=4", "--run_test=false", "--trainer.logger=false",
         f"--checkpoint.dirpath={tmp_path / 'ckpt'}"])
    ckpt = tmp_path / "ckpt" / "last.ckpt"
    run(["test", *common, f"--ckpt_path={ckpt}", f"--results_dir={tmp_path / 'r1'}", "--trainer.devices=1"])
    run(["test", *common, "--config", "trainer/ddp_sim.yaml", f"--ckpt_path={ckpt}",
         f"--results_dir={tmp_path / 'r2'}"])
    (one,), (two,) = load_records([tmp_path / "r1"]), load_records([tmp_path / "r2"])
    assert two["config"]["trainer"]["devices"] == 2 and two["config"]["trainer"]["strategy"] == "ddp"
    assert one["metrics"]["num_videos"] == two["metrics"]["num_videos"] == 13
    assert one["metrics"]["num_frames"] == two["metrics"]["num_frames"]
    for key in ("frame_auc_micro", "frame_auc_macro", "frame_ap_micro", "frame_pr_auc_micro", "frame_auc_abnormal",
                "frame_ap_abnormal", "frame_far_normal"):
        assert one["metrics"][key] == two["metrics"][key], key
