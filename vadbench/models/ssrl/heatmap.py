"""PSR attention heatmaps (SSRL Sec. 4.5, Fig. 6).

For one snippet and one patch scale, the PSR's non-local attention map M (N_r x N_r) is summed over
its rows, w'_n = sum_m w_{m,n} (column sums: how much every patch attends to patch n), normalised to
[0, 1] (min-max) and rearranged into the rows x cols grid in row-major patch order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vadbench.models.ssrl.torch_model import SSRLModel


def attention_to_grid(attention: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """attention (..., P, P) -> (..., rows, cols): column sums, min-max normalised, row-major grid."""
    weights = attention.sum(dim=-2)                            # w'_n = sum_m w_{m,n}
    lo = weights.amin(dim=-1, keepdim=True)
    hi = weights.amax(dim=-1, keepdim=True)
    weights = (weights - lo) / (hi - lo).clamp(min=1e-12)
    return weights.reshape(*weights.shape[:-1], rows, cols)


@torch.no_grad()
def psr_heatmaps(model: SSRLModel, patches: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """patches: scale -> (T, P, D) of one video. Returns scale -> (T, rows, cols) heatmaps per snippet."""
    out = {}
    for scale in model.patch_scales:
        psr = model.psr_for(scale)
        if psr is None or psr.attention_module is None:
            raise ValueError(f"scale {scale}: this SSRL has no PSR non-local block (use_psr / psr_nonlocal off)")
        block = psr.attention_module
        block.keep_attention = True
        try:
            psr(patches[scale])                                # (T, P, D): snippets as the batch
            attention = block.last_attention
        finally:
            block.keep_attention, block.last_attention = False, None
        out[scale] = attention_to_grid(attention, *model.grids[scale])
    return out


def save_heatmaps(heatmaps: dict[str, torch.Tensor], snippet: int, out_dir: str | Path, stem: str,
                  frame: str | Path | None = None, score: float | None = None) -> list[Path]:
    """Save each scale's heatmap of one snippet as `.npy` and all of them as one Fig. 6-style PNG panel.

    The panel (`<stem>_t<snippet>_heatmap.png`) has the frame (when given) first, then one map per
    patch scale, drawn over the frame or alone as its rows x cols grid of patches, each titled with
    its scale and grid, with one shared colour bar (normalised attention weight w'_n, 0 to 1).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    image = None
    if frame is not None:
        import matplotlib.image as mpimg

        frame = Path(frame)
        if not frame.is_file():
            raise FileNotFoundError(f"frame image {frame} not found")
        image = mpimg.imread(frame)
    grids = {}
    for scale, maps in heatmaps.items():
        grid = maps[snippet].cpu().numpy()
        grids[scale] = grid
        path = out_dir / f"{stem}_t{snippet:04d}_{scale}.npy"
        np.save(path, grid)
        written.append(path)
    panels = (["frame"] if image is not None else []) + list(grids)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 0.8, 3.4), squeeze=False)
    mappable = None
    for ax, name in zip(axes[0], panels):
        if name == "frame":
            ax.imshow(image)
            ax.set_title("input frame", fontsize=10)
            ax.set_axis_off()
            continue
        grid = grids[name]
        rows, cols = grid.shape
        if image is not None:
            h, w = image.shape[:2]
            ax.imshow(image)
            mappable = ax.imshow(grid, cmap="jet", alpha=0.5, extent=(0, w, h, 0), interpolation="bilinear",
                                 vmin=0, vmax=1)
            ax.set_axis_off()
        else:
            mappable = ax.imshow(grid, cmap="jet", vmin=0, vmax=1, interpolation="nearest")
            ax.set(xticks=range(cols), yticks=range(rows), xlabel="patch column", ylabel="patch row")
        ax.set_title(f"scale {name}: {rows} x {cols} patches", fontsize=10)
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=list(axes[0]), fraction=0.025, pad=0.02)
        bar.set_label("PSR attention w'_n (normalised)")
    title = f"SSRL patch attention (Fig. 6 style): {stem}, snippet {snippet}"
    if score is not None:
        title += f", anomaly score {score:.3f}"
    fig.suptitle(title, fontsize=11)
    png = out_dir / f"{stem}_t{snippet:04d}_heatmap.png"
    fig.savefig(png, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    written.append(png)
    return written
