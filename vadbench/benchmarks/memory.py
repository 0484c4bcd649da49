"""`vadbench bench memory`: peak resident memory of `fit` then `test` in one process, at two dataset sizes.

For each size a generated MIL feature set (`[T, crops, D]` files, `n` videos per class in both
training and test) is written first (by this process), then a fresh Python process runs RTFM
`trainer.fit` (`--steps` steps) and `trainer.test` over every test video, as `vadbench fit` does
with `run_test`, and reports its peak RSS (`ru_maxrss`; plus peak GPU memory on CUDA). The figure
printed last is the ratio of the two peaks: memory should not grow with the dataset (target <= 1.1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from vadbench.benchmarks.common import devices, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", type=int, nargs=2, default=[6, 36], metavar=("SMALL", "LARGE"),
                   help="videos per class, in training and in test")
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--crops", type=int, default=10)
    p.add_argument("--snippets", type=int, nargs=2, default=[150, 352], metavar=("MIN", "MAX"))
    p.add_argument("--batch", type=int, default=4, help="training videos per class")
    p.add_argument("--steps", type=int, default=2, help="training steps before the test")
    p.add_argument("--device", default="auto", help="auto (cpu, plus cuda when available) or a comma list")


def child(root: str, dim: int, batch: int, steps: int, device: str) -> dict:
    """fit + test in this process; returns the peaks (run by the parent in a fresh interpreter)."""
    import lightning as L
    import torch

    from vadbench.benchmarks.common import peak_rss_mb
    from vadbench.data.mil import MILFeatureDataModule
    from vadbench.benchmarks.common import rtfm_module

    torch.manual_seed(0)
    dm = MILFeatureDataModule(dataset="synthetic", root=root, feature_dim=dim, batch_size=batch,
                              iterations_per_epoch=steps)
    model = rtfm_module(dim)
    trainer = L.Trainer(accelerator=device, devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    after_fit = peak_rss_mb()
    trainer.test(model, datamodule=dm, verbose=False)
    out = {"peak_rss_mb": peak_rss_mb(), "after_fit_mb": after_fit, "test_videos": len(dm.splits["test"]),
           "auc": float(trainer.callback_metrics["test/frame_auc_micro"])}
    if device == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _run_child(root: Path, args, device: str) -> dict:
    code = ("import json, sys; from vadbench.benchmarks.memory import child; "
            f"print('RESULT ' + json.dumps(child({str(root)!r}, {args.dim}, {args.batch}, {args.steps}, {device!r})))")
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"vadbench bench memory: the fit+test process failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(args) -> int:
    from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil

    devs = devices(args.device)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            cfg = SyntheticMILConfig(feature_dim=args.dim, crops=args.crops, train_normal=n, train_abnormal=n,
                                     test_normal=n, test_abnormal=n, min_snippets=args.snippets[0],
                                     max_snippets=args.snippets[1])
            root = write_synthetic_mil(Path(tmp) / f"n{n}", cfg)
            for d in devs:
                res[(n, d.type)] = _run_child(root, args, d.type)
    cols = [d.type for d in devs]
    small, large = args.sizes
    rows = []
    for n in args.sizes:
        r = [res[(n, c)] for c in cols]
        label = f"{2 * n} train + {2 * n} test videos"
        rows.append((f"{label}: peak RSS", [f"{x['peak_rss_mb']:.0f} MB" for x in r]))
        rows.append((f"{label}: RSS after fit", [f"{x['after_fit_mb']:.0f} MB" for x in r]))
        if any("peak_gpu_mb" in x for x in r):
            rows.append((f"{label}: peak GPU", [f"{x.get('peak_gpu_mb', 0):.0f} MB" for x in r]))
    ratios = {c: res[(large, c)]["peak_rss_mb"] / res[(small, c)]["peak_rss_mb"] for c in cols}
    rows.append(("peak RSS ratio, large / small", [f"{ratios[c]:.3f}x" for c in cols]))
    mb = args.dim * args.crops * 4 * sum(args.snippets) / 2 / 2**20
    print(f"RTFM fit ({args.steps} steps of {args.batch}+{args.batch}) then test, one process per size; "
          f"features [T, {args.crops}, {args.dim}], T {args.snippets[0]}-{args.snippets[1]} (~{mb:.1f} MB per video)")
    print(table(rows, cols, first=40))
    heads = ", ".join(f"{ratios[c]:.3f}x ({c})" for c in cols)
    print(f"peak RSS of fit+test, {large / small:.1f}x more videos (target <= 1.1): {heads}")
    return 0
