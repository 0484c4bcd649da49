"""Leaderboards: published numbers (metafile), our result files, comparison tables, plots, reproduction.

- `metafile`: `load_metafile()` reads the metafile beside every model (`vadbench/models/<model>/metafile.yml`).
- `board`: groups result JSONs over seeds and renders markdown / CSV / HTML tables.
- `scores`: `save_scores(...)` / `load_scores(...)`, the per-video score file beside a result.
- `plots`: ROC/PR curves, score timelines, accuracy vs shots (PNG).
- `specs`: the paper-table specs of `vadbench reproduce` (the metafiles' `tables:` and `ablations:`).
"""

from vadbench.leaderboard.scores import load_scores, save_scores, scores_path_for

__all__ = ["load_scores", "save_scores", "scores_path_for"]
