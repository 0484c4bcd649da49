"""`vadbench bench <name>`: benchmarks that print ratios measured in one run.

    vadbench bench rtfm [--batch 32] [--crops 10] [--dim 2048] [--segments 32] [--steps 5] [--device cpu]
    vadbench bench extract ...      # runs benchmarks/bench_extract.py
    vadbench bench trx-cache ...    # runs benchmarks/bench_trx_cache.py

`rtfm` times RTFM training iterations at the paper's batch (32 normal + 32 anomalous videos,
32 segments, 10 crops, D = 2048) and reports iterations/s, peak memory, and the speed-up of the
vectorised step over a per-video loop computing the same loss.
"""

from __future__ import annotations

import argparse
import resource
import runpy
import sys
import time
from pathlib import Path

import torch

from vadbench.models.rtfm import RTFMLoss, RTFMModel, gather_snippets
from vadbench.paths import REPO_DIR


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _step_vectorised(model, loss, feats, labels, opt):
    out = model(feats)
    idx = model.topk(out)
    terms = loss(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores, labels)
    opt.zero_grad()
    terms["loss"].backward()
    opt.step()


def _step_per_video(model, loss, feats, labels, opt):
    outs = [model(feats[i:i + 1]) for i in range(feats.shape[0])]  # what vectorising avoids
    feat_all = torch.cat([o.features for o in outs])
    scores = torch.cat([o.scores for o in outs])
    mags = torch.cat([o.magnitudes for o in outs])
    idx = mags.topk(model.k, dim=1).indices
    terms = loss(gather_snippets(feat_all, idx), gather_snippets(scores, idx), scores, labels)
    opt.zero_grad()
    terms["loss"].backward()
    opt.step()


def bench_rtfm(args) -> int:
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = RTFMModel(args.dim).to(device).train()
    loss = RTFMLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
    feats = torch.rand(2 * args.batch, args.segments, args.crops, args.dim, device=device)
    labels = torch.cat([torch.zeros(args.batch), torch.ones(args.batch)]).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def timed(step, n):
        step(model, loss, feats, labels, opt)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(n):
            step(model, loss, feats, labels, opt)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - t0) / n

    rss0 = _peak_rss_mb()
    t_vec = timed(_step_vectorised, args.steps)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _peak_rss_mb()
    t_loop = timed(_step_per_video, max(1, args.steps // 2))
    print(f"RTFM training step, batch {args.batch}+{args.batch} videos x {args.segments} segments x "
          f"{args.crops} crops x D={args.dim} on {device} ({torch.get_num_threads()} threads)")
    print(f"  vectorised:      {1 / t_vec:8.3f} it/s  ({t_vec * 1000:.0f} ms/it)")
    print(f"  per-video loop:  {1 / t_loop:8.3f} it/s  ({t_loop * 1000:.0f} ms/it)")
    print(f"  speed-up of vectorised over per-video loop: {t_loop / t_vec:.2f}x")
    what = "peak GPU memory allocated" if device.type == "cuda" else f"peak process RSS (was {rss0:.0f} MB before)"
    print(f"  {what}: {peak:.0f} MB")
    return 0


SCRIPTS = {"extract": "bench_extract.py", "trx-cache": "bench_trx_cache.py"}


def main(argv: list[str]) -> int:
    if argv and argv[0] in SCRIPTS:
        script = REPO_DIR / "benchmarks" / SCRIPTS[argv[0]]
        if not script.is_file():
            print(f"vadbench bench: {script} not found", file=sys.stderr)
            return 2
        sys.argv = [str(script)] + argv[1:]
        runpy.run_path(str(script), run_name="__main__")
        return 0
    parser = argparse.ArgumentParser(prog="vadbench bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="name", required=True)
    r = sub.add_parser("rtfm", help="RTFM training iterations/s and peak memory at paper batch size")
    r.add_argument("--batch", type=int, default=32, help="videos per class (paper: 32)")
    r.add_argument("--crops", type=int, default=10)
    r.add_argument("--dim", type=int, default=2048)
    r.add_argument("--segments", type=int, default=32)
    r.add_argument("--steps", type=int, default=3)
    r.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    for name in SCRIPTS:
        sub.add_parser(name, help=f"runs benchmarks/{SCRIPTS[name]}")
    args = parser.parse_args(argv)
    return bench_rtfm(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
