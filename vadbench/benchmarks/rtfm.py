"""`vadbench bench rtfm`: the full Lightning training step against a bare PyTorch loop over the same
core, loss and loader, at the batch sizes users run (4+4 and 32+32 videos), with seconds per step.

Both sides read the same generated feature files (`[T, crops, D]`, 32 segments) through the same
`MILFeatureDataModule` loader, build the same `RTFMModel` + `RTFMLoss` from the same seed and take
Adam steps; a step is timed from the end of one to the end of the next (so it includes loading the
batch), the first `--warmup` steps are dropped, and the two sides alternate A B B A ... `--repeats`
times. Lightning runs without logger, checkpoints or progress bar. The ratio printed last is the
median over repeats of Lightning / bare: the framework's overhead (target <= 1.05).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import lightning as L
import torch

from vadbench.benchmarks.common import StepEndTimer, devices, median, now, step_intervals, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batches", type=int, nargs="+", default=[4, 32], help="videos per class (4+4 and 32+32)")
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--crops", type=int, default=10)
    p.add_argument("--segments", type=int, default=32)
    p.add_argument("--snippets", type=int, nargs=2, default=[150, 352], metavar=("MIN", "MAX"),
                   help="video length range in snippets (mean ~250, as UCF-Crime's I3D files)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=1, help="untimed first steps per measurement (>= 1)")
    p.add_argument("--repeats", type=int, default=2, help="A/B alternations per batch size")
    p.add_argument("--workers", type=int, default=0, help="loader worker processes")
    p.add_argument("--device", default="auto", help="auto (cpu, plus cuda when available) or a comma list")
    p.add_argument("--compile", action="store_true",
                   help="also time the Lightning step with the core compiled (vadbench.callbacks.TorchCompile)")


def _data(root: Path, args, batch: int, device: torch.device):
    from vadbench.data.mil import MILFeatureDataModule

    return MILFeatureDataModule(dataset="synthetic", root=str(root), feature_dim=args.dim, batch_size=batch,
                                num_segments=args.segments, num_workers=args.workers,
                                pin_memory=device.type == "cuda", iterations_per_epoch=10_000)


def _module(args):
    from vadbench.benchmarks.common import rtfm_module

    torch.manual_seed(0)
    return rtfm_module(args.dim)


def lightning_steps(root: Path, args, batch: int, device: torch.device, compiled: bool = False) -> list[float]:
    """Lightning step times; `compiled`: with `TorchCompile` (compilation happens in the untimed warm-up)."""
    from vadbench.callbacks import TorchCompile

    timer = StepEndTimer(device)
    callbacks = [timer] + ([TorchCompile()] if compiled else [])
    trainer = L.Trainer(accelerator=device.type, devices=1, max_steps=args.warmup + args.steps, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0, callbacks=callbacks)
    trainer.fit(_module(args), datamodule=_data(root, args, batch, device))
    return step_intervals(timer.ends, args.warmup)


def bare_steps(root: Path, args, batch: int, device: torch.device) -> list[float]:
    from vadbench.models.rtfm import gather_snippets

    dm = _data(root, args, batch, device)
    dm.setup("fit")
    module = _module(args)
    core, loss = module.model.to(device).train(), module.loss.to(device)
    opt = torch.optim.Adam(core.parameters(), lr=1e-3, weight_decay=5e-4)
    ends = []
    for i, b in enumerate(dm.train_dataloader()):
        if i == args.warmup + args.steps:
            break
        feats = b.features.to(device, non_blocking=True)
        mask, labels = b.mask.to(device, non_blocking=True), b.labels.to(device, non_blocking=True)
        out = core(feats, mask)
        idx = core.topk(out, mask)
        terms = loss(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores, labels, mask)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        ends.append(now(device))
    return step_intervals(ends, args.warmup)


def main(args) -> int:
    from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil

    args.warmup = max(1, args.warmup)
    devs = devices(args.device)
    n = max(args.batches)
    cfg = SyntheticMILConfig(feature_dim=args.dim, crops=args.crops, train_normal=n, train_abnormal=n,
                             test_normal=1, test_abnormal=1, min_snippets=args.snippets[0],
                             max_snippets=args.snippets[1])
    results: dict[tuple[int, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_synthetic_mil(Path(tmp) / "features", cfg)
        for device in devs:
            for batch in args.batches:
                times = {"lightning": [], "bare": [], "compiled": []}
                ratios, compile_ratios = [], []
                for rep in range(args.repeats):
                    order = ("lightning", "bare") if rep % 2 == 0 else ("bare", "lightning")
                    order += ("compiled",) if args.compile else ()
                    got = {}
                    for who in order:
                        steps = (bare_steps(root, args, batch, device) if who == "bare" else
                                 lightning_steps(root, args, batch, device, compiled=who == "compiled"))
                        got[who] = median(steps)
                        times[who].append(got[who])
                    ratios.append(got["lightning"] / got["bare"])
                    if args.compile:
                        compile_ratios.append(got["compiled"] / got["lightning"])
                results[(batch, device.type)] = {"lightning": median(times["lightning"]),
                                                 "bare": median(times["bare"]), "ratio": median(ratios)}
                if args.compile:
                    results[(batch, device.type)].update(compiled=median(times["compiled"]),
                                                         compile_ratio=median(compile_ratios))
    cols = [d.type for d in devs]
    rows = []
    for batch in args.batches:
        r = [results[(batch, c)] for c in cols]
        rows += [(f"batch {batch}+{batch}  Lightning step", [f"{x['lightning']:.4f} s/step" for x in r]),
                 (f"batch {batch}+{batch}  bare PyTorch loop", [f"{x['bare']:.4f} s/step" for x in r]),
                 (f"batch {batch}+{batch}  Lightning / bare", [f"{x['ratio']:.3f}x" for x in r])]
        if args.compile:
            rows += [(f"batch {batch}+{batch}  Lightning, compiled", [f"{x['compiled']:.4f} s/step" for x in r]),
                     (f"batch {batch}+{batch}  compiled / eager", [f"{x['compile_ratio']:.3f}x" for x in r])]
    print(f"RTFM training step: {args.crops} crops x {args.segments} segments x D={args.dim}, videos of "
          f"{args.snippets[0]}-{args.snippets[1]} snippets, {args.steps} timed steps x {args.repeats} alternations, "
          f"{torch.get_num_threads()} CPU threads, {args.workers} loader workers")
    print(table(rows, cols))
    heads = ", ".join(f"{b}+{b} " + " / ".join(f"{results[(b, c)]['ratio']:.3f}x ({c})" for c in cols)
                      for b in args.batches)
    print(f"framework overhead, Lightning step / bare PyTorch step (target <= 1.05): {heads}")
    return 0
