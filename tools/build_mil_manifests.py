"""Regenerate the MIL split files in data_manifests/ from the official lists (run once, by hand).

    python tools/build_mil_manifests.py ../shared

Labels are derived explicitly, never from list positions: UCF-Crime by the `Normal` name prefix,
ShanghaiTech by the existence of a frame mask (test) or membership of the official anomalous
training block checked against the masks (train), XD-Violence by the `_label_A` tag of its normal
videos (the official rule of Wu et al.'s `make_gt.py`). XD-Violence's splits come from UR-DMU's
per-crop lists (one `<video>__<c>.npy` per line, collapsed to videos in list order).
"""

import sys
from pathlib import Path

from vadbench.data.manifest import SplitEntry, video_name_from_list_line, write_split
from vadbench.data.mil.layouts import collapse_crop_list
from vadbench.paths import MANIFESTS_DIR


def main(shared: str) -> None:
    ref = Path(shared) / "reference_data" / "tianyu0207_RTFM" / "list"
    masks = {p.stem for p in (ref / "test_frame_mask").glob("*.npy")}
    ucf = {"train": ref / "ucf-i3d.list", "test": ref / "ucf-i3d-test.list"}
    for split, path in ucf.items():
        names = [video_name_from_list_line(l) for l in path.read_text().splitlines() if l.strip()]
        write_split(MANIFESTS_DIR / "ucf_crime" / f"{split}.txt",
                    [SplitEntry(n, 0 if n.startswith("Normal") else 1) for n in names])
    sh = {"train": ref / "shanghai-i3d-train-10crop.list", "test": ref / "shanghai-i3d-test-10crop.list"}
    for split, path in sh.items():
        names = [video_name_from_list_line(l) for l in path.read_text().splitlines() if l.strip()]
        # ShanghaiTech anomalous videos are exactly those with a frame mask (107 = 63 train + 44 test).
        write_split(MANIFESTS_DIR / "shanghaitech" / f"{split}.txt",
                    [SplitEntry(n, int(n in masks)) for n in names])
    wu = Path(shared) / "reference_data" / "henrryzh1_UR-DMU" / "list"
    for split, path in {"train": wu / "XD_Train.list", "test": wu / "XD_Test.list"}.items():
        videos = collapse_crop_list([l for l in path.read_text().splitlines() if l.strip()], path)
        write_split(MANIFESTS_DIR / "xd_violence" / f"{split}.txt",
                    [SplitEntry(v, 0 if "_label_A" in v else 1) for v, _ in videos])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared")
