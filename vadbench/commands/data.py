"""`vadbench data`: check a user's copy of a dataset against its manifest.

    vadbench data verify <dataset> --root DIR [--annotations PATH] [--suffix _i3d.npy] [--layout L --crops C] [--deep]
    vadbench data info <dataset>

The feature layout (`stacked`, `per_crop`, `single_view`) and the crops per video default to the
manifest's `features:` (XD-Violence: per_crop, 5 crops; the others: stacked).

`verify` reports every listed video whose feature file is missing, unreadable or of the wrong
shape, files under the root that no split lists, count mismatches with the manifest, and the
sha256 of official annotation files found against the manifest's checksums. `--deep` also reads
every file fully (NaN/Inf check) and checks the ground truth against each test video's length.
Exit status 0 only when nothing is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from vadbench.data.manifest import load_manifest, manifest_split, sha256_file
from vadbench.data.mil.annotations import GroundTruthError
from vadbench.data.mil.datamodule import GT_DEFAULT_NAMES, GT_FORMATS, MILFeatureDataModule
from vadbench.data.mil.features import FeatureFileError, load_features
from vadbench.data.mil.layouts import FEATURE_LAYOUTS, crop_file_name, read_video_header, resolve_video_files


def verify(dataset: str, root: str, annotations: str | None, suffix: str, deep: bool, out=None,
           layout: str | None = None, crops: int | None = None) -> int:
    out = out or sys.stdout   # looked up per call (a default bound at import would outlive a replaced stdout)
    manifest = load_manifest(dataset)
    layout = layout or (manifest.get("features") or {}).get("layout", "stacked")
    if crops is None and layout == "per_crop":
        crops = (manifest.get("features") or {}).get("crops")
    root_dir = Path(root).expanduser()
    problems: list[str] = []
    if not root_dir.is_dir():
        print(f"error: root {root_dir} is not a folder", file=out)
        return 2
    pattern = "*.npy" if layout == "per_crop" else f"*{suffix}"
    index = {p.name: p for p in root_dir.rglob(pattern)}
    listed: set[str] = set()
    expected_dim = None
    for split in ("train", "test"):
        entries = manifest_split(dataset, split)
        counts = manifest.get("counts", {})
        if counts.get(split) is not None and counts[split] != len(entries):
            problems.append(f"manifest {split} split has {len(entries)} videos, counts say {counts[split]}")
        missing = 0
        for e in entries:
            if layout == "per_crop" and crops:   # a video's crop files are listed even when one is missing
                listed.update(crop_file_name(e.name, c) for c in range(crops))
            try:
                files = resolve_video_files(index, root_dir, e.name, layout, suffix, crops)
            except FeatureFileError as err:
                problems.append(f"{split}: missing {err}")
                missing += 1
                continue
            listed.update(p.name for p in files.paths)
            try:
                head = read_video_header(files, layout, expected_dim, crops)
                expected_dim = expected_dim or head.dim
                if deep:
                    load_features(files.paths if files.per_crop else files.path)
            except FeatureFileError as err:
                problems.append(f"{split}: {err}")
        print(f"{split}: {len(entries) - missing}/{len(entries)} listed feature files present", file=out)
    extra = sorted(set(index) - listed)
    if extra:
        print(f"note: {len(extra)} feature files under the root are in no split (e.g. {extra[0]})", file=out)
    for official, digest in (manifest.get("checksums") or {}).items():
        fname = official.split(" ")[0]
        found = [root_dir / fname] if (root_dir / fname).is_file() else sorted(root_dir.rglob(fname))
        if annotations and Path(annotations).name == fname:
            found = [Path(annotations)]
        if found:
            actual = sha256_file(found[0])
            status = "ok" if actual == digest else "MISMATCH"
            print(f"checksum {fname}: {status}", file=out)
            if actual != digest:
                problems.append(f"{found[0]}: sha256 {actual} differs from the official {digest}")
    if deep and not problems:
        dm = MILFeatureDataModule(dataset=dataset, root=str(root_dir), annotations=annotations, feature_suffix=suffix,
                                  feature_layout=layout, crops=crops)
        try:
            dm.setup("test")
            print(f"ground truth: checked against all {len(dm.splits['test'])} test videos", file=out)
        except (GroundTruthError, FileNotFoundError, ValueError) as err:
            problems.append(f"ground truth: {err}")
    if problems:
        print(f"\n{len(problems)} problem(s):", file=out)
        for kind in ("test", "train", None):   # up to 100 of each split's, test first, then the rest
            mine = [p for p in problems if (p.split(":", 1)[0] if p.split(":", 1)[0] in ("train", "test") else None) == kind]
            for p in mine[:100]:
                print(f"  - {p}", file=out)
            if len(mine) > 100:
                print(f"  ... and {len(mine) - 100} more{f' in {kind}' if kind else ''}", file=out)
        return 1
    print(f"{dataset}: OK ({root_dir})", file=out)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vadbench data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    v = sub.add_parser("verify", help="check a dataset copy against its manifest")
    v.add_argument("dataset", choices=[d for d in GT_FORMATS if d != "synthetic"])
    v.add_argument("--root", required=True, help="folder with the feature files")
    v.add_argument("--annotations", default=None, help="test annotation file/folder (default: searched under root)")
    v.add_argument("--suffix", default="_i3d.npy", help="file name suffix after the video name (stacked, single_view)")
    v.add_argument("--layout", choices=FEATURE_LAYOUTS, default=None,
                   help="feature layout (default: the manifest's; XD-Violence per_crop, the others stacked)")
    v.add_argument("--crops", type=int, default=None, help="crop files per video (per_crop; default: the manifest's)")
    v.add_argument("--deep", action="store_true", help="read every file fully and check the ground truth")
    i = sub.add_parser("info", help="print a dataset's manifest")
    i.add_argument("dataset")
    args = parser.parse_args(argv)
    if args.action == "info":
        from vadbench.data.manifest import manifest_dir

        print(f"# {manifest_dir(args.dataset) / 'manifest.yaml'} (packaged with vadbench)")
        print(yaml.safe_dump(load_manifest(args.dataset), sort_keys=False))
        return 0
    return verify(args.dataset, args.root, args.annotations, args.suffix, args.deep, layout=args.layout,
                  crops=args.crops)


__all__ = ["verify", "main", "GT_DEFAULT_NAMES"]
