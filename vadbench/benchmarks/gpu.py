"""`vadbench bench gpu`: every discovered model on the device users train on, fp32 against bf16-mixed.

Per model, built from its synthetic experiment (`configs/<model>/synthetic.yaml` or
`synthetic_5w1s.yaml`, `vadbench.benchmarks.zoo`), trained `--steps` steps with Lightning in
`32-true` and in `bf16-mixed` precision from the same initial weights, then tested:
- train step: median seconds per training batch, from the end of one batch to the end of the next
  (loading, forward, backward, optimizer), the first `--warmup` batches dropped;
- peak memory: the device's peak allocated memory over the training run (CUDA only);
- test throughput: test videos/s (MIL) or episodes/s (few-shot) of the test epoch;
- the test metric after those steps on the synthetic test set: frame AUC (micro) or accuracy;
- MIL: the time to the published number of iterations, extrapolated: `--published-steps` steps at
  the published shapes (the model's real-data experiment, `<model>/ucf_crime.yaml` first: its videos
  per class, segments, crops, feature dim and patch scales, random features) x its `trainer.max_steps`.
Then the few-shot input pipeline (`vadbench bench fewshot-input`'s parts): the training loader's
supply per decode worker against TRX's consumption on the device, in fp32 and bf16: is decoding the
bottleneck, and how many workers keep the device fed.

`--device auto` is CUDA when available, else the CPU (the first line says which). Printed last:
bf16 / fp32 train step time, median over the models, on that device.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

import lightning as L
import torch

from vadbench.benchmarks.common import StepEndTimer, median, now, step_intervals, table

PRECISIONS = ("32-true", "bf16-mixed")
TEST_METRICS = ("test/frame_auc_micro", "test/accuracy")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default=None, help="comma list of model ids (default: every discovered model)")
    p.add_argument("--steps", type=int, default=50, help="training steps per precision (timed after --warmup)")
    p.add_argument("--warmup", type=int, default=3, help="untimed first training batches")
    p.add_argument("--test-batches", type=int, default=None, help="cap on test batches (default: the whole test set)")
    p.add_argument("--num-workers", type=int, default=None, help="loader workers (default: the experiment's)")
    p.add_argument("--tiny", action="store_true", help="tiny synthetic data (the CPU test's sizes)")
    p.add_argument("--device", default="auto", help="auto (cuda when available, else cpu), cpu or cuda")
    p.add_argument("--no-published", dest="published", action="store_false",
                   help="skip the MIL steps at the published shapes")
    p.add_argument("--published-steps", type=int, default=5, help="timed steps at the published shapes")
    p.add_argument("--published-batch", type=int, default=None, help="override: videos per class")
    p.add_argument("--published-dim", type=int, default=None, help="override: feature dim")
    p.add_argument("--no-input", dest="input", action="store_false", help="skip the few-shot input pipeline")
    p.add_argument("--input-workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--input-tasks", type=int, default=6, help="tasks loaded per worker setting")
    p.add_argument("--input-size", type=int, default=240, help="generated frame size (HMDB51 is 320x240)")
    p.add_argument("--input-frames", type=int, default=48)
    p.add_argument("--input-height", type=int, default=256, help="loader resize height (TRX: 256)")
    p.add_argument("--input-way", type=int, default=5)
    p.add_argument("--input-shot", type=int, default=1)
    p.add_argument("--input-query", type=int, default=5)
    p.add_argument("--input-backbone", default="resnet50", help="TRX backbone of the consumption measurement")
    p.add_argument("--input-crop", type=int, default=224)
    p.add_argument("--input-model-tasks", type=int, default=3, help="timed training tasks (after one warm-up)")


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("vadbench bench gpu: --device cuda requested but CUDA is not available")
    return device


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads; no GPU)"


def peak_memory_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None


class _TestCounter(L.Callback):
    """Test epoch wall time and the number of videos (MIL) or episodes (few-shot) it scored."""

    def __init__(self, device: torch.device):
        self.device, self.items, self.start, self.seconds = device, 0, 0.0, 0.0

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self.start = now(self.device)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.items += len(batch)

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self.seconds = now(self.device) - self.start


def run_precision(built, module, precision: str, args, device: torch.device) -> dict:
    """Fit `args.steps` steps in `precision`, then test; step times, peak memory, throughput, metric."""
    source = built.datamodule
    dm = copy.deepcopy(source)
    if args.num_workers is not None:
        dm.num_workers = args.num_workers
    config_trainer = built.trainer
    timer, counter = StepEndTimer(device), _TestCounter(device)
    trainer = L.Trainer(accelerator=device.type, devices=1, precision=precision, max_steps=args.warmup + args.steps,
                        accumulate_grad_batches=config_trainer.accumulate_grad_batches,
                        gradient_clip_val=config_trainer.gradient_clip_val, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0, limit_test_batches=args.test_batches or 1.0,
                        callbacks=[timer, counter], deterministic=False)
    peak_memory_reset(device)
    trainer.fit(module, datamodule=dm)
    memory = peak_memory_mb(device)
    trainer.test(module, datamodule=dm, verbose=False)
    metrics = trainer.callback_metrics
    metric = next((float(metrics[k]) for k in TEST_METRICS if k in metrics), float("nan"))
    return {"step": median(step_intervals(timer.ends, args.warmup)), "memory_mb": memory,
            "throughput": counter.items / counter.seconds if counter.seconds else float("nan"), "metric": metric}


def published_step(name: str, precision: str, args, device: torch.device) -> dict | None:
    """Seconds per training step at the published shapes (random features), and the published steps."""
    from vadbench.benchmarks.zoo import build_experiment, published_experiment
    from vadbench.data.mil.batch import MILBatch
    from vadbench.data.synthetic import grid_shape

    config = published_experiment(name)
    if config is None:
        return None
    overrides = []
    if args.published_batch is not None:
        overrides.append(f"--data.init_args.batch_size={args.published_batch}")
    if args.published_dim is not None:
        overrides.append(f"--data.init_args.feature_dim={args.published_dim}")
    cli = build_experiment(config, overrides)
    module, dm = cli.model.to(device).train(), cli.datamodule
    core = getattr(module, "model", module)
    b, t, dim = dm.batch_size, dm.num_segments, dm.feature_dim
    crops = getattr(core, "num_crops", None) or getattr(dm, "crops", None) or 10
    g = torch.Generator(device=device).manual_seed(0)
    patches = {s: torch.randn(2 * b, t, math.prod(grid_shape(s)), dim, device=device, generator=g)
               for s in dm.patch_scales}
    batch = MILBatch(features=torch.randn(2 * b, t, crops, dim, device=device, generator=g),
                     labels=torch.cat([torch.zeros(b, device=device), torch.ones(b, device=device)]),
                     mask=torch.ones(2 * b, t, dtype=torch.bool, device=device),
                     video_index=torch.arange(2 * b, device=device), patches=patches)
    optimizers = module.configure_optimizers()
    optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
    ends = []
    peak_memory_reset(device)
    for _ in range(1 + args.published_steps):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss = module.training_step(batch, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ends.append(now(device))
    steps = int(cli.trainer.max_steps)
    per_step = median(step_intervals(ends, 1))
    return {"config": config.name, "shape": f"{b}+{b} x {t} x {crops} x {dim}" + (f" + {len(patches)} patch scales"
                                                                                   if patches else ""),
            "step": per_step, "steps": steps, "hours": per_step * steps / 3600, "memory_mb": peak_memory_mb(device)}


def input_pipeline(args, device: torch.device) -> dict:
    """Few-shot training loader supply per worker against TRX's consumption on `device`, fp32 and bf16."""
    from vadbench.benchmarks import fewshot_input

    ns = argparse.Namespace(way=args.input_way, shot=args.input_shot, query=args.input_query, size=args.input_size,
                            frames=args.input_frames, height=args.input_height, crop=args.input_crop,
                            tasks=args.input_tasks, model_tasks=args.input_model_tasks)
    frames_per_task = args.input_way * (args.input_shot + args.input_query) * 8
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        rates = {w: fewshot_input.supply(ns, root, w) for w in sorted({0, args.input_workers})}
    per_worker = max(rates[w] / max(1, w) for w in rates)
    demand = {p: fewshot_input.demand(ns, device, args.input_backbone, args.input_crop, bf16=p == "bf16-mixed")
              for p in PRECISIONS}
    return {"frames_per_task": frames_per_task, "supply": {w: r * frames_per_task for w, r in rates.items()},
            "per_worker": per_worker * frames_per_task,
            "demand": {p: d * frames_per_task for p, d in demand.items()}}


def guarded(fn, *args) -> dict | None:
    """`fn(*args)`, or {"error": ...} when the device runs out of memory (the other models still run)."""
    import gc

    try:
        return fn(*args)
    except (torch.OutOfMemoryError, MemoryError) as err:
        return {"error": f"out of memory ({type(err).__name__})"}
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _cells(a: dict, b: dict, key: str, spec: str, ratio: bool = True) -> list[str]:
    """fp32 and bf16 cells of `key` (and their ratio), or the error of a run that failed."""
    if "error" in a or "error" in b:
        return [a.get("error", ""), b.get("error", ""), ""]
    x, y = a[key], b[key]
    both = x is not None and y is not None and not math.isnan(x) and not math.isnan(y) and x
    return [_fmt(x, spec), _fmt(y, spec), _fmt(y / x, ".2f", "x") if ratio and both else ""]


def _fmt(value, spec: str, unit: str = "") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{spec}}{unit}"


def main(args) -> int:
    from vadbench.benchmarks.zoo import build, discovered_models

    device = pick_device(args.device)
    names = sorted(discovered_models()) if not args.models else [m.strip() for m in args.models.split(",") if m.strip()]
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    data = "tiny" if args.tiny else "each experiment's"
    print(f"vadbench bench gpu: device {device_name(device)}, torch {torch.__version__}; {args.steps} training steps "
          f"per precision ({args.warmup} more untimed), {data} synthetic data")
    rows, ratios = [], []
    for name in names:
        built = build(name, tiny=args.tiny)
        initial = copy.deepcopy(built.module.state_dict())
        unit = "videos/s" if built.kind == "mil" else "episodes/s"
        metric = "frame AUC" if built.kind == "mil" else "accuracy"
        result = {}
        for precision in PRECISIONS:
            module = copy.deepcopy(built.module)
            module.load_state_dict(initial)
            torch.manual_seed(0)
            result[precision] = guarded(run_precision, built, module, precision, args, device)
        f32, b16 = result["32-true"], result["bf16-mixed"]
        if "error" not in f32 and "error" not in b16:
            ratios.append(b16["step"] / f32["step"])
        rows += [(f"{name} ({built.config.parent.name}/{built.config.name})", []),
                 ("  train step, s/batch", _cells(f32, b16, "step", ".4f")),
                 ("  peak memory, MB", _cells(f32, b16, "memory_mb", ".0f", ratio=False)),
                 (f"  test throughput, {unit}", _cells(f32, b16, "throughput", ".1f")),
                 (f"  {metric} after {args.steps + args.warmup} steps", _cells(f32, b16, "metric", ".3f", ratio=False))]
        print(f"bench gpu: {name} trained and tested in both precisions", file=sys.stderr, flush=True)
        if built.kind == "mil" and args.published:
            pub = {p: guarded(published_step, name, p, args, device) for p in PRECISIONS}
            p32, p16 = pub["32-true"], pub["bf16-mixed"]
            if p32 is None:
                rows.append(("  published shapes", ["no real-data experiment", "", ""]))
            else:
                ok = next((p for p in (p32, p16) if "error" not in p), None)
                rows += [(f"  published: {ok['config']}, {ok['shape']}" if ok else "  published shapes", []),
                         ("    step at published shapes, s", _cells(p32, p16, "step", ".4f")),
                         ("    peak memory, MB", _cells(p32, p16, "memory_mb", ".0f", ratio=False)),
                         (f"    {ok['steps'] if ok else '?'} steps (max_steps), extrapolated h",
                          _cells(p32, p16, "hours", ".2f", ratio=False))]
    print(table(rows, ["fp32", "bf16-mixed", "bf16 / fp32"], first=58))
    if args.input:
        pipe = input_pipeline(args, device)
        d32, d16 = pipe["demand"]["32-true"], pipe["demand"]["bf16-mixed"]
        workers = max(pipe["supply"])
        print(f"few-shot input pipeline: {args.input_way}-way {args.input_shot}-shot, {args.input_query} queries/class, "
              f"8 frames ({pipe['frames_per_task']} frames/task), generated {args.input_size} px videos resized to "
              f"{args.input_height} px; TRX {args.input_backbone} at {args.input_crop} px on {device.type}")
        print(table([(f"loader supply, {w} worker{'s' if w != 1 else ''}", [f"{s:.0f} frames/s"])
                     for w, s in pipe["supply"].items()]
                    + [("backbone consumption, fp32", [f"{d32:.0f} frames/s"]),
                       ("backbone consumption, bf16-mixed", [f"{d16:.0f} frames/s"])], ["rate"], first=58))
        for label, d in (("fp32", d32), ("bf16", d16)):
            bound = "decoding is the bottleneck" if pipe["supply"][workers] < d else "the model is the bottleneck"
            print(f"input {label}: supply with {workers} workers / consumption = {pipe['supply'][workers] / d:.2f}x "
                  f"({bound}); ~{math.ceil(d / pipe['per_worker'])} decode workers at "
                  f"{pipe['per_worker']:.0f} frames/s each keep it fed")
    print(f"bf16-mixed / fp32 train step time, median over {len(ratios)} models: "
          f"{median(ratios) if ratios else float('nan'):.2f}x ({device.type})")
    return 0
