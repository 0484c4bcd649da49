"""`vadbench bench fewshot-input`: does the few-shot training input pipeline keep the model fed?

1. Supply: the episodic training loader (`EpisodicVideoDataModule.train_dataloader`, TRX sampling,
   decode + resize + crop) over a generated hmdb51-layout set, with 0, 1, ... `--workers` worker
   processes: tasks/s and frames/s delivered (a 5-way 1-shot task with 5 queries per class carries
   30 videos x 8 frames).
2. Demand on this machine: TRX training steps on in-memory tasks of the same shape (forward +
   backward; a batch of 16 tasks is 16 such steps before one optimizer step, as TRX accumulates),
   frames consumed per second, with `--backbone` at `--crop`.
3. Demand on a GPU, estimated: the backbone's forward FLOPs per frame (counted with
   `torch.utils.flop_counter` at the paper's `--gpu-backbone` / `--gpu-crop`), x3 for training,
   against an assumed sustained `--gpu-tflops`; with CUDA present it is measured instead.

Printed last: workers' supply / model demand, on this CPU and for the GPU, and how many decode
workers a GPU needs at the measured per-worker rate.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import torch

from vadbench.benchmarks.common import devices, now, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="most loader workers")
    p.add_argument("--tasks", type=int, default=6, help="tasks loaded per worker setting")
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=1)
    p.add_argument("--query", type=int, default=5, help="query videos per class in training (TRX: 5)")
    p.add_argument("--size", type=int, default=240, help="generated frame size (HMDB51 is 320x240)")
    p.add_argument("--frames", type=int, default=48, help="frames per generated video")
    p.add_argument("--height", type=int, default=256, help="loader resize height (TRX: 256)")
    p.add_argument("--crop", type=int, default=112, help="crop measured on this machine (TRX: 224)")
    p.add_argument("--backbone", default="resnet18", help="backbone measured on this machine")
    p.add_argument("--model-tasks", type=int, default=2, help="timed training tasks (after one warm-up)")
    p.add_argument("--batch-tasks", type=int, default=16, help="tasks per optimizer step (TRX: 16)")
    p.add_argument("--gpu-backbone", default="resnet50")
    p.add_argument("--gpu-crop", type=int, default=224)
    p.add_argument("--gpu-tflops", type=float, default=100.0,
                   help="assumed sustained training throughput of the GPU (TFLOP/s) for the estimate")
    p.add_argument("--device", default="auto", help="auto (cpu, plus cuda when available) or a comma list")


def _datamodule(args, root: Path, workers: int, crop: int):
    from vadbench.data.episodic import EpisodicVideoDataModule

    return EpisodicVideoDataModule(dataset="synthetic", root=str(root), way=args.way, shot=args.shot,
                                   train_query=args.query, seq_len=8, frame_height=args.height, crop_size=crop,
                                   num_workers=workers, train_episodes=max(args.tasks * 4, 16),
                                   synthetic=dict(layout="hmdb51", size=args.size, frames=args.frames,
                                                  videos_per_class=max(args.shot + args.query, 6)))


def supply(args, root: Path, workers: int) -> float:
    """Tasks per second delivered by the training loader (first task, the workers' start, not counted)."""
    dm = _datamodule(args, root, workers, args.crop)
    dm.prepare_data()
    dm.setup("fit")
    it = iter(dm.train_dataloader())
    next(it)
    start = time.perf_counter()
    for _ in range(args.tasks):
        next(it)
    return args.tasks / (time.perf_counter() - start)


def demand(args, device: torch.device, backbone: str, crop: int, bf16: bool = False) -> float:
    """Training tasks per second of TRX on in-memory tasks (forward + backward, no optimizer step);
    `bf16`: under bfloat16 autocast (Lightning's `bf16-mixed`)."""
    from vadbench.models.trx import TRX
    from vadbench.models.trx.torch_model import TRXHeadConfig, TRXModel

    torch.manual_seed(0)
    model = TRX(net=TRXModel(backbone=backbone, head=TRXHeadConfig(seq_len=8))).to(device).train()
    n_support, n_query = args.way * args.shot, args.way * args.query
    support = torch.randn(n_support, 8, 3, crop, crop, device=device)
    query = torch.randn(n_query, 8, 3, crop, crop, device=device)
    labels = torch.arange(args.way, device=device).repeat_interleave(args.shot)
    q_labels = torch.arange(args.way, device=device).repeat_interleave(args.query)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            feats = model.embed(torch.cat([support, query]))
            logits = model.episode_logits(feats[:n_support], labels, feats[n_support:], args.way)
            loss, _ = model.loss(logits, q_labels)
        loss.backward()

    step()
    start = now(device)
    for _ in range(args.model_tasks):
        step()
    return args.model_tasks / (now(device) - start)


def forward_gflops_per_frame(backbone: str, crop: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from vadbench.models.components.backbones import build_resnet

    net = build_resnet(backbone)[0].eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, crop, crop))
    return counter.get_total_flops() / 1e9


def main(args) -> int:
    devs = devices(args.device)
    frames_per_task = args.way * (args.shot + args.query) * 8
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        rates = {w: supply(args, root, w) for w in range(0, args.workers + 1)}
    per_worker = max(rates[w] / max(1, w) for w in rates)  # tasks/s one decode process sustains
    cpu_demand = demand(args, torch.device("cpu"), args.backbone, args.crop)
    gpu_measured = demand(args, torch.device("cuda"), args.gpu_backbone, args.gpu_crop) \
        if any(d.type == "cuda" for d in devs) else None
    gflops = forward_gflops_per_frame(args.gpu_backbone, args.gpu_crop)
    gpu_estimate = args.gpu_tflops * 1e3 / (3 * gflops * frames_per_task)  # tasks/s
    gpu_demand = gpu_measured if gpu_measured is not None else gpu_estimate
    best = rates[args.workers]
    rows = [(f"loader, {w} worker{'s' if w != 1 else ''}", [f"{r:.2f} tasks/s", f"{r * frames_per_task:.0f} frames/s"])
            for w, r in rates.items()]
    rows += [(f"TRX training, {args.backbone} at {args.crop} px (cpu)",
              [f"{cpu_demand:.3f} tasks/s", f"{cpu_demand * frames_per_task:.0f} frames/s"]),
             (f"  = a batch of {args.batch_tasks} tasks every", [f"{args.batch_tasks / cpu_demand:.1f} s", ""]),
             (f"TRX training, {args.gpu_backbone} at {args.gpu_crop} px (gpu, "
              f"{'measured' if gpu_measured is not None else 'estimated'})",
              [f"{gpu_demand:.3g} tasks/s", f"{gpu_demand * frames_per_task:.0f} frames/s"])]
    print(f"few-shot training input: {args.way}-way {args.shot}-shot, {args.query} queries/class, 8 frames "
          f"({frames_per_task} frames/task); generated {args.size}x{args.size} videos resized to {args.height} px; "
          f"{os.cpu_count()} CPUs")
    print(table(rows, ["tasks/s", "frames/s"], first=58))
    print(f"GPU estimate: {args.gpu_backbone} at {args.gpu_crop} px = {gflops:.3g} GFLOP/frame forward, x3 for "
          f"training = {3 * gflops * frames_per_task / 1e3:.3g} TFLOP/task at an assumed {args.gpu_tflops:.0f} TFLOP/s"
          + ("" if gpu_measured is None else f" (measured on CUDA: {gpu_measured:.2f} tasks/s)"))
    need = math.ceil(gpu_demand / per_worker)
    print(f"input supply / model demand at batch {args.batch_tasks} tasks with {args.workers} workers: "
          f"{best / cpu_demand:.3g}x (cpu, measured), {best / gpu_demand:.3g}x (gpu, "
          f"{'measured' if gpu_measured is not None else 'estimated'}); a GPU needs ~{need} decode workers "
          f"at {per_worker * frames_per_task:.0f} frames/s each")
    return 0
