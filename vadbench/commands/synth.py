"""`vadbench synth`: write a synthetic dataset to disk in a real dataset's layout.

    vadbench synth mil --out DIR [--seed N] [--feature-dim D] [--crops C] ...
    vadbench synth video --out DIR [--layout ...] [--seed N]      # few-shot video datasets

The MIL set uses the UCF-Crime layout (lists with foreign absolute paths, `<video>_i3d.npy`,
`Temporal_Anomaly_Annotation_for_Testing_Videos.txt`); train on it with
`vadbench fit --config rtfm/synthetic.yaml --data.init_args.root DIR`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib

from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil


def _add_mil(sub) -> None:
    p = sub.add_parser("mil", help="snippet features for the weakly supervised MIL pipeline")
    p.add_argument("--out", required=True, help="output folder (replaced if it exists)")
    for f in dataclasses.fields(SyntheticMILConfig):
        if f.name in ("version",):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("list[str]", list):
            p.add_argument(flag, nargs="*", default=f.default_factory() if callable(f.default_factory) else [])
        else:
            typ = {"int": int, "float": float, "str": str}.get(str(f.type), type(f.default))
            p.add_argument(flag, type=typ, default=f.default, help=f"default {f.default}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vadbench synth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    _add_mil(sub)
    try:
        video = importlib.import_module("vadbench.data.episodic.synthetic")
    except ImportError:
        video = None
    if video is not None:
        video.add_arguments(sub.add_parser("video", help="raw videos for the episodic few-shot pipeline"))
    args = parser.parse_args(argv)
    if args.kind == "video":
        return int(video.run(args) or 0)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticMILConfig) if hasattr(args, f.name)}
    out = write_synthetic_mil(args.out, SyntheticMILConfig(**values))
    print(f"vadbench: synthetic MIL dataset written to {out}")
    return 0
