"""Exact resume: a real `vadbench fit` process killed with SIGKILL mid-epoch or at an epoch end,
then resumed with `--ckpt_path last.ckpt`, ends bit-identical to an uninterrupted run (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

# 4 batches per epoch, 10 steps: epochs end at steps 4 and 8; a checkpoint every step. RTFM has
# dropout and the random top-k exclusion, so a lost RNG state or a restarted data order shows.
STEPS, PER_EPOCH = 10, 4


def _fit(tmp_path: Path, data: Path, name: str, extra: list[str] = (), kill: dict | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "vadbench.cli", "fit", "--config", "rtfm/synthetic.yaml",
            f"--data.init_args.root={data}", "--data.init_args.feature_dim=64",
            "--data.init_args.batch_size=4", f"--data.init_args.iterations_per_epoch={PER_EPOCH}",
            f"--trainer.max_steps={STEPS}", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", "--checkpoint.every_n_train_steps=1",
            f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={tmp_path / name}", *extra]
    if kill is not None:
        cfg = tmp_path / f"kill_{name}.yaml"
        cfg.write_text("trainer:\n  callbacks:\n    - class_path: tests.helpers.kill.KillAt\n      init_args:\n"
                       + "".join(f"        {k}: {v}\n" for k, v in kill.items()))
        args += ["--config", str(cfg)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def _result(folder: Path) -> dict:
    (path,) = folder.glob("*.json")
    return json.loads(path.read_text())


def _weights(rec: dict) -> dict:
    return torch.load(rec["ckpt_path"], map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.slow
def test_kill9_mid_epoch_and_at_epoch_end_then_resume_is_bit_identical(tiny_synthetic_mil, tmp_path):
    ok = _fit(tmp_path, tiny_synthetic_mil, "straight")
    assert ok.returncode == 0, ok.stderr[-3000:]
    straight = _result(tmp_path / "straight")
    for name, kill in (("mid", {"step": 6}), ("epoch_end", {"epoch": 2})):
        killed = _fit(tmp_path, tiny_synthetic_mil, f"{name}_killed", kill=kill)
        assert killed.returncode == -signal.SIGKILL, (name, killed.returncode, killed.stderr[-3000:])
        assert not (tmp_path / f"{name}_killed").exists() or not list((tmp_path / f"{name}_killed").glob("*.json"))
        lasts = [p for p in (tmp_path / "runs").rglob("last.ckpt") if p.stat().st_mtime > 0]
        last = max(lasts, key=lambda p: p.stat().st_mtime)
        state = torch.load(last, map_location="cpu", weights_only=False)
        assert state["global_step"] == {"mid": 6, "epoch_end": 8}[name]
        resumed = _fit(tmp_path, tiny_synthetic_mil, f"{name}_resumed", extra=[f"--ckpt_path={last}"])
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        rec = _result(tmp_path / f"{name}_resumed")
        assert rec["metrics"] == straight["metrics"], (name, rec["metrics"], straight["metrics"])
        a, b = _weights(straight), _weights(rec)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
