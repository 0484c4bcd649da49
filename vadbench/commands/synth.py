"""`vadbench synth`: write a synthetic dataset to disk in a real dataset's layout.

    vadbench synth mil --out DIR [--layout ucf_crime|ucf_crime_per_crop|xd_violence] [--seed N] [--feature-dim D] ...
    vadbench synth video --out DIR [--layout ...] [--seed N]      # few-shot video datasets

The MIL set uses a real dataset's layout: `ucf_crime` (default: lists with foreign absolute paths,
`<video>_i3d.npy`, `Temporal_Anomaly_Annotation_for_Testing_Videos.txt`; train on it with
`vadbench fit --config rtfm/synthetic.yaml --data.init_args.root DIR`), `xd_violence` (per-crop
`<video>__<c>.npy` [T, 1024], 5 crops, Windows-path lists, `XD_Annotation.txt`; train with
`vadbench fit --config rtfm/xd_violence.yaml --data.init_args.root DIR`) or `ucf_crime_per_crop` (Wu et
al.'s per-crop UCF-Crime files, 10 crops of [T, 1024], `UCF_Annotation.txt`; train with
`vadbench fit --config rtfm/ucf_crime.yaml --config data/ucf_crime_i3d1024.yaml --data.init_args.root DIR`).
The per-crop layouts default to the real files' crops and dim at laptop sizes (LAYOUT_DEFAULTS).

DIR must be empty, absent, or a set `vadbench synth` wrote earlier (it is then replaced); any other
non-empty folder is refused unless `--overwrite` (which replaces it wholesale).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from pathlib import Path

from vadbench.data.synthetic import LAYOUT_DEFAULTS, LAYOUTS, SyntheticMILConfig, write_synthetic_mil

LAYOUT_DEPENDENT = sorted({k for d in LAYOUT_DEFAULTS.values() for k in d})


def _add_mil(sub) -> None:
    p = sub.add_parser("mil", help="snippet features for the weakly supervised MIL pipeline")
    p.add_argument("--out", required=True, help="output folder: empty, absent or written by vadbench synth")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if vadbench synth did not write it")
    for f in dataclasses.fields(SyntheticMILConfig):
        if f.name in ("version",):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("list[str]", list):
            p.add_argument(flag, nargs="*", default=f.default_factory() if callable(f.default_factory) else [])
        elif f.name == "layout":
            p.add_argument(flag, choices=LAYOUTS, default=f.default, help=f"on-disk layout (default {f.default})")
        elif f.name in LAYOUT_DEPENDENT:   # None: the layout's default
            typ = {"int": int, "float": float, "str": str}.get(str(f.type), type(f.default))
            p.add_argument(flag, type=typ, default=None, help=f"default {f.default}; per layout: " + ", ".join(
                f"{lay} {d[f.name]}" for lay, d in LAYOUT_DEFAULTS.items() if f.name in d))
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
    if video is not None:
        sub.choices["video"].add_argument("--overwrite", action="store_true",
                                          help="replace --out even if vadbench synth did not write it")
    args = parser.parse_args(argv)
    try:
        check_output_folder(Path(args.out).expanduser(), args.overwrite, nested=args.kind == "video")
    except FileExistsError as err:
        print(f"vadbench synth: error: {err}", file=sys.stderr)
        return 2
    if args.kind == "video":
        return int(video.run(args) or 0)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticMILConfig) if hasattr(args, f.name)}
    for name in LAYOUT_DEPENDENT:
        if values.get(name) is None:
            values.pop(name, None)
            if name in LAYOUT_DEFAULTS[args.layout]:
                values[name] = LAYOUT_DEFAULTS[args.layout][name]
    out = write_synthetic_mil(args.out, SyntheticMILConfig(**values))
    print(f"vadbench: synthetic MIL dataset written to {out}")
    return 0


def _written_by_synth(folder: Path) -> bool:
    return (folder / "synthetic.json").is_file()


def check_output_folder(out: Path, overwrite: bool = False, nested: bool = False) -> None:
    """Refuse to replace a non-empty folder `vadbench synth` did not write (unless `overwrite`).

    nested: `synth video --layout all` writes one sub-folder per layout, each with its marker.
    """
    if overwrite or not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, expected a folder")
    entries = sorted(out.iterdir())
    if not entries or _written_by_synth(out):
        return
    if nested and all(e.is_dir() and _written_by_synth(e) for e in entries):
        return
    shown = ", ".join(e.name for e in entries[:5]) + (", ..." if len(entries) > 5 else "")
    raise FileExistsError(f"--out {out} is not empty and was not written by vadbench synth (it holds {shown}); "
                          f"choose an empty or new folder, or pass --overwrite to replace it")
