"""An independent re-derivation of the official XD-Violence frame labels, for tests only.

Wu et al.'s rule (`list/make_gt.py` of Roc-Ng/XDVioDet, behind `gt.npy` / UR-DMU's `xd_gt.npy`), written
anew from its description, not from vadbench's readers: a violent video takes the first annotation line
containing its name and sets `gt[s:e] = 1` over its frames; normal videos (`_label_A`) stay 0; then the
last frame and `(frames - 1) % 16` more are dropped, leaving 16 * ((frames - 1) // 16) labels.
"""

from __future__ import annotations

import numpy as np


def official_xd_gt(name: str, frames: int, annotation_lines: list[str]) -> np.ndarray:
    gt = np.zeros(frames, dtype=np.float32)
    if "_label_A" not in name:
        for line in annotation_lines:
            if name in line:
                fields = line.split()
                for i in range(1, len(fields), 2):
                    gt[int(fields[i]):int(fields[i + 1])] = 1.0
                break
    gt = gt[:-1]
    mod = (frames - 1) % 16
    return gt[:-mod] if mod else gt
