"""`vadbench complexity --config CONFIG [--crops 10] [--snippets 32] [--json]`: parameters and FLOPs.
`vadbench complexity --table6 [--config ssrl/ucf_crime.yaml]`: SSRL's variants beside Table 6's counts.

Counts a config's model exactly as built (SSRL Table 6, MSIP's complexity table): parameters, in
total and per top-level block, and FLOPs with `torch.utils.flop_counter.FlopCounterMode` (one
multiply-add = 2 FLOPs) on one snippet, and on a whole `--snippets`-long video with `--crops` clip
crops. The model runs on the meta device: nothing is computed, so 2048-d models are counted in seconds.
Note: the MSIP poster's table (RTFM 7.9G, SSRL 57.7G, MSIP 17.0G) counts multiply-adds of a
32-snippet, 10-crop video; SSRL's Table 6 (186.9G / 214.6G) also includes the I3D feature encoder.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch.utils.flop_counter import FlopCounterMode

from vadbench.data.mil.batch import MILBatch
from vadbench.data.synthetic import grid_shape


def build_module(config: list[str], overrides: list[str]):
    """The LightningModule a config describes (no data is read, no trainer runs)."""
    return build_cli(config, overrides).model


def build_cli(config: list[str], overrides: list[str]):
    """The VadbenchCLI of a config, instantiated but not run (model, datamodule, trainer)."""
    import logging
    import warnings

    from vadbench.cli import VadbenchCLI, _resolve_config_args

    args = []
    for c in config:
        args += ["--config", c]
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VadbenchCLI(args=_resolve_config_args(args + overrides + ["--trainer.logger=false"]), run=False)


def example_batch(module, snippets: int, crops: int, device: str | torch.device = "meta") -> MILBatch:
    core = getattr(module, "model", module)
    dim = int(getattr(core, "feature_dim", 2048))
    patches = {}
    for scale in getattr(core, "patch_scales", []):
        rows, cols = grid_shape(scale)
        patches[scale] = torch.zeros(1, snippets, rows * cols, dim, device=device)
    return MILBatch(features=torch.zeros(1, snippets, crops, dim, device=device),
                    labels=torch.zeros(1, device=device), mask=torch.ones(1, snippets, dtype=torch.bool, device=device),
                    video_index=torch.zeros(1, dtype=torch.long, device=device), patches=patches)


def count_flops(module, snippets: int, crops: int) -> int:
    module = module.eval().to("meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module.snippet_scores(example_batch(module, snippets, crops))
    return int(counter.get_total_flops())


def complexity(module, crops: int = 10, snippets: int = 32) -> dict:
    core = getattr(module, "model", module)
    params = {name: sum(p.numel() for p in child.parameters()) for name, child in core.named_children()}
    report = {
        "model": getattr(module, "model_id", type(module).__name__),
        "params": sum(p.numel() for p in core.parameters()),
        "params_by_block": {k: v for k, v in params.items() if v},
        "patch_scales": list(getattr(core, "patch_scales", [])),
        "crops": crops,
    }
    report["flops_per_snippet"] = count_flops(module, 1, crops)
    report["snippets"] = snippets
    report["flops_per_video"] = count_flops(module, snippets, crops)
    report["macs_per_video"] = report["flops_per_video"] // 2
    return report


# SSRL Table 6 (ECCV 2022) parameter counts, beside the variants we build (`--table6`). The table does
# not say which MPA convolution or whether the relation convolutions carry biases: each row is built
# both ways where that matters. RTFM's 28M is the RTFM row of SSRL's Table 6 (RTFM's own code: 24.7M).
TABLE6 = (
    ("RTFM = SSRL stage 1 (clip only)", ["--data.init_args.patch_scales=[]"], "28M"),
    ("SSRL, official MPA conv (default recipe)", [], "191M"),
    ("SSRL, official MPA conv, relation biases", ["--model.init_args.net.init_args.relation_bias=true"], "191M"),
    ("SSRL, paper MPA conv (3x3 stride 2)", ["--model.init_args.net.init_args.mpa_conv=paper"], "191M"),
    ("SSRL share parameters, official MPA conv", ["--model.init_args.net.init_args.share_psr=true"], "136M"),
    ("SSRL share parameters, paper MPA conv", ["--model.init_args.net.init_args.share_psr=true",
                                               "--model.init_args.net.init_args.mpa_conv=paper"], "136M"),
)


def table6(config: list[str] | None = None, overrides: list[str] = ()) -> list[dict]:
    """Parameter counts of the SSRL variants of Table 6, each built from `config` (default: the
    official-recipe `ssrl/ucf_crime.yaml`, D = 2048) on the meta device (nothing allocated)."""
    rows = []
    for variant, extra, paper in TABLE6:
        with torch.device("meta"):
            module = build_module(config or ["ssrl/ucf_crime.yaml"], list(overrides) + extra)
        rows.append({"variant": variant, "params": sum(p.numel() for p in module.model.parameters()),
                     "table6": paper})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vadbench complexity", description=__doc__.split("\n")[0])
    parser.add_argument("--config", action="append", help="model config (may repeat)")
    parser.add_argument("--table6", action="store_true",
                        help="SSRL's Table 6 variants: our parameter counts beside the paper's")
    parser.add_argument("--crops", type=int, default=10, help="clip crops per snippet (official: 10)")
    parser.add_argument("--snippets", type=int, default=32, help="snippets of the whole-video count (32)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args, overrides = parser.parse_known_args(argv)
    if args.table6:
        rows = table6(args.config, overrides)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'variant':<44} {'ours':>20}  SSRL Table 6")
        for row in rows:
            print(f"{row['variant']:<44} {row['params'] / 1e6:>7.1f}M ({row['params']:>11,})  {row['table6']}")
        return 0
    if not args.config:
        parser.error("--config is required (or --table6)")
    report = complexity(build_module(args.config, overrides), args.crops, args.snippets)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['model']}  patch scales {report['patch_scales'] or '(clip only)'}")
    print(f"  parameters: {report['params'] / 1e6:.2f}M  ("
          + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in report["params_by_block"].items()) + ")")
    print(f"  FLOPs per snippet ({args.crops} crops): {report['flops_per_snippet'] / 1e9:.3f}G")
    print(f"  per {args.snippets}-snippet video: {report['flops_per_video'] / 1e9:.2f}G FLOPs "
          f"= {report['macs_per_video'] / 1e9:.2f}G multiply-adds")
    return 0
