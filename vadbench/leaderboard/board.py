"""Leaderboard tables: our result files (mean ± std over seeds) beside the papers' numbers.

Rows are model x setting x provenance (data source, backbone, model selection); each dataset gets a
table whose columns are its metrics (ours, paper, difference). Everything is sorted and carries no
timestamp, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vadbench.leaderboard.metafile import Metafile, PaperEntry

HONEST_SELECTIONS = ("last", "best_val")
SHOTS_RE = re.compile(r"^\d+w\d+s$")
IGNORED_METRICS = ("num_frames", "num_videos", "num_videos_macro", "num_episodes")


@dataclass
class ResultGroup:
    """All seeds of one model x setting x dataset x provenance."""

    model: str
    setting: str
    dataset: str
    data_source: str
    backbone: str | None
    model_selection: str
    data_fingerprint: str | None = None
    seeds: list = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)   # the seeds' wandb runs ({id, path, name, ...}), when logged
    records: list[dict] = field(default_factory=list, repr=False)  # the seeds' result records, as read

    @property
    def family(self) -> str:
        """"few-shot" (accuracy over episodes) or "anomaly detection" (frame scores): never one table."""
        return "few-shot" if "accuracy" in self.metrics else "anomaly detection"

    @property
    def row_key(self) -> tuple:
        return (self.model, self.setting, self.data_source, self.backbone or "", self.model_selection)

    def mean_std(self, metric: str) -> tuple[float, float, int] | None:
        vals = [v for v in self.metrics.get(metric, []) if v is not None and math.isfinite(v)]
        if not vals:
            return None
        n = len(vals)
        mean = sum(vals) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
        return mean, std, n


def record_backbone(rec: dict) -> str | None:
    """The record's `backbone`; for features made by `vadbench extract` (a MIL record, whose model has no
    backbone) the extractor's weights from the sidecars: `random_init`, or `pretrained` for a weight file."""
    if rec.get("backbone"):
        return rec["backbone"]
    weights = (((rec.get("extras") or {}).get("extraction") or {}).get("weights"))
    if not weights:
        return None
    return "random_init" if weights == "random_init" else "pretrained"


def group_records(records: Iterable[dict]) -> list[ResultGroup]:
    """Group result records; a seed run more than once counts once (its newest file)."""
    latest: dict[tuple, dict] = {}
    for rec in records:
        # the data fingerprint is part of the key: two test sets that share a dataset name never mix
        key = (rec.get("model"), str(rec.get("setting", "default")), rec.get("dataset"), rec.get("data_source"),
               record_backbone(rec), rec.get("model_selection"), rec.get("data_fingerprint"), rec.get("seed"))
        prev = latest.get(key)
        if prev is None or (str(rec.get("created", "")), rec.get("_path", "")) > (str(prev.get("created", "")),
                                                                                  prev.get("_path", "")):
            latest[key] = rec
    groups: dict[tuple, ResultGroup] = {}
    for key in sorted(latest, key=lambda k: tuple("" if x is None else str(x) for x in k)):
        rec = latest[key]
        gkey = key[:-1]
        g = groups.get(gkey)
        if g is None:
            g = groups[gkey] = ResultGroup(model=str(rec.get("model")), setting=str(rec.get("setting", "default")),
                                           dataset=str(rec.get("dataset")), data_source=str(rec.get("data_source")),
                                           backbone=record_backbone(rec),
                                           model_selection=str(rec.get("model_selection")),
                                           data_fingerprint=rec.get("data_fingerprint"))
        g.seeds.append(rec.get("seed"))
        g.paths.append(Path(rec.get("_path", "")).name)
        g.records.append(rec)
        if isinstance(rec.get("wandb"), dict):
            g.runs.append(rec["wandb"])
        for name, value in (rec.get("metrics") or {}).items():
            if name in IGNORED_METRICS or not isinstance(value, (int, float)):
                continue
            g.metrics.setdefault(name, []).append(float(value))
    return sorted(groups.values(), key=lambda g: (g.dataset, g.data_fingerprint or "") + g.row_key)


# Config keys that name a run (its seed, tag, folders, console output), not the experiment it is.
RUN_ONLY_KEYS = ("seed_everything", "setting", "results_dir", "ckpt_path", "trainer.default_root_dir",
                 "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.logger",
                 "checkpoint.dirpath")


def experiment_config(config: dict | None) -> dict:
    """A result's resolved config without the keys in RUN_ONLY_KEYS: equal for two runs of the same
    experiment and seed, whatever their tags and folders."""
    out = dict(config or {})
    for key in RUN_ONLY_KEYS:
        head, _, tail = key.partition(".")
        if not tail:
            out.pop(head, None)
        elif isinstance(out.get(head), dict):
            out[head] = {k: v for k, v in out[head].items() if k != tail}
    return out


def duplicate_rows(groups: list[ResultGroup]) -> list[tuple[ResultGroup, ResultGroup, str]]:
    """Pairs of rows of one table that are one experiment shown twice: for a seed both hold, the same
    resolved config (up to RUN_ONLY_KEYS), or every metric of every common seed equal (a run reused, or
    a setting that changes nothing). Returns (a, b, why) per pair."""
    out = []
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            if (a.dataset, a.data_fingerprint, a.family) != (b.dataset, b.data_fingerprint, b.family):
                continue
            ra = {r.get("seed"): r for r in a.records}
            rb = {r.get("seed"): r for r in b.records}
            common = sorted(set(ra) & set(rb), key=str)
            if not common:
                continue
            same_cfg = [s for s in common if ra[s].get("config") and
                        experiment_config(ra[s].get("config")) == experiment_config(rb[s].get("config"))]
            if same_cfg:
                out.append((a, b, f"identical resolved config for seed(s) {same_cfg}"))
            elif all((ra[s].get("metrics") or {}) == (rb[s].get("metrics") or {}) and ra[s].get("metrics")
                     for s in common):
                out.append((a, b, f"identical metrics for every common seed {common}"))
    return out


def short_fingerprint(fp: str | None) -> str:
    """"sha256:29e70156..." -> "29e701"; None -> "unknown"."""
    return fp.split(":")[-1][:6] if fp else "unknown"


def metric_label(meta: Metafile, metric: str) -> str:
    """The metafile's label; an undeclared `accuracy_ci95` reads "accuracy 95% CI half-width (%)" (the
    half-width of the confidence interval over test episodes, in the accuracy's unit)."""
    if is_ci(meta, metric):
        base = meta.metric_label(metric[:-5])
        name, unit = (base[: base.rindex(" (")], base[base.rindex(" (") :]) if base.endswith(")") and " (" in base \
            else (base, "")
        return f"{name} 95% CI half-width{unit}"
    return meta.metric_label(metric)


def is_ci(meta: Metafile, metric: str) -> bool:
    """An undeclared `<metric>_ci95`: the half-width of `<metric>`'s 95% confidence interval."""
    return metric.endswith("_ci95") and metric not in meta.metrics


def metric_scale(meta: Metafile, metric: str) -> float:
    """The metafile's scale; a confidence interval (`accuracy_ci95`) takes its metric's scale (same unit)."""
    for suffix in ("_ci95", "_std"):
        if metric.endswith(suffix) and metric not in meta.metrics:
            return meta.scale(metric[: -len(suffix)])
    return meta.scale(metric)


# ---------------------------------------------------------------------------- formatting
def fmt_paper(meta: Metafile, entry: PaperEntry | None) -> str:
    if entry is None:
        return "—"
    if meta.scale(entry.metric) != 1:
        return f"{entry.value:.{meta.decimals(entry.paper)}f}"
    return f"{entry.value:g}"


def fmt_ours(meta: Metafile, metric: str, stats: tuple[float, float, int] | None) -> str:
    """Mean ± sample std over seeds; one seed, or a confidence-interval half-width (already a ± of its
    own), shows the mean alone."""
    if stats is None:
        return "—"
    mean, std, n = stats
    scale = metric_scale(meta, metric)
    digits = 2 if scale != 1 else 3
    text = f"{mean * scale:.{digits}f}"
    return text + (f" ± {std * scale:.{digits}f}" if n > 1 and not is_ci(meta, metric) else "")


def comparable(group: ResultGroup) -> bool:
    """Whether our number may be set against a paper's: real data and no randomly initialised feature
    extractor (the papers' features come from pretrained backbones)."""
    return group.data_source == "real" and group.backbone != "random_init"


def diff(meta: Metafile, group: ResultGroup, metric: str, entry: PaperEntry | None) -> float | None:
    """ours - paper in the paper's unit; only for real data from a pretrained (or precomputed) feature
    extractor: synthetic numbers and random-init features are not comparable."""
    stats = group.mean_std(metric)
    if entry is None or stats is None or not comparable(group):
        return None
    return stats[0] * metric_scale(meta, metric) - entry.value


NOT_COMPARABLE = "n/c (random_init)"


def fmt_diff(value: float | None, group: ResultGroup | None = None, entry: PaperEntry | None = None) -> str:
    """The Δ cell; a real run on random-init features beside a paper number says why it has none."""
    if value is None and group is not None and entry is not None and group.data_source == "real" \
            and group.backbone == "random_init":
        return NOT_COMPARABLE
    return "—" if value is None else f"{value:+.2f}"


def metrics_for(meta: Metafile, groups: list[ResultGroup]) -> list[str]:
    """Metrics present in the groups: the dataset's headline metrics first (`dataset_metrics` of
    tables.yaml: AP first on XD-Violence), then the declared ones in the metafile's order, then
    undeclared ones sorted."""
    present = {m for g in groups for m in g.metrics}
    datasets = {g.dataset for g in groups}
    first = meta.dataset_metrics.get(next(iter(datasets)), []) if len(datasets) == 1 else []
    ordered = [m for m in first if m in present]
    ordered += [m for m in meta.metrics if m in present and m not in ordered]
    return ordered + sorted(present - set(ordered))


def headline_rank(meta: Metafile, dataset: str, metric: str) -> int:
    """The metric's place among the dataset's headline metrics (`dataset_metrics` of tables.yaml); the
    others come after them, all equal."""
    first = meta.dataset_metrics.get(dataset, [])
    return first.index(metric) if metric in first else len(first)


def split_shots(setting: str) -> tuple[str | None, str]:
    """"5w1s,modules=kps" -> ("5w1s", "modules=kps"); "scales=clip" -> (None, "scales=clip")."""
    head, _, rest = setting.partition(",")
    if SHOTS_RE.match(head):
        return head, rest
    return None, setting


def _shots_k(shots: str) -> int:
    return int(shots.split("w")[1][:-1]) if shots else 0


# ---------------------------------------------------------------------------- table model
@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class TableKey:
    """One comparison table: a dataset and model family, and the test set(s) its numbers come from.

    Anomaly detection: one test set (data fingerprint) per table. Few-shot: the shot counts of a model
    side by side (5w1s | 5w5s | 5w10s), each shot column on its own test set: rows whose shots use the
    same test sets share a table (`fingerprints`: one per shot)."""

    dataset: str
    family: str
    fingerprints: tuple[tuple[str, str], ...]   # ((shots or "", fingerprint or ""), ...)
    title: str = ""

    @property
    def sort_key(self) -> tuple:
        return (self.dataset, self.fingerprints, self.family)


def _row_key(g: ResultGroup) -> tuple:
    """Few-shot groups of one model that differ only in their shots are one table row."""
    shots, rest = split_shots(g.setting)
    setting = (rest or "default") if shots else g.setting
    return (g.model, setting, g.data_source, g.backbone or "", g.model_selection)


def table_groups(groups: list[ResultGroup]) -> list[tuple[TableKey, list[ResultGroup]]]:
    """The tables of the leaderboard and the report, each with its groups (see `TableKey`)."""
    rows: dict[tuple, list[ResultGroup]] = {}
    for g in groups:
        key = (g.dataset, g.family) + (_row_key(g) if g.family == "few-shot" else (g.data_fingerprint or "",))
        rows.setdefault(key, []).append(g)
    tables: dict[tuple, list[ResultGroup]] = {}
    for key, gs in rows.items():
        fps = tuple(sorted({(split_shots(g.setting)[0] or "" if g.family == "few-shot" else "",
                             g.data_fingerprint or "") for g in gs}, key=lambda x: (_shots_k(x[0]), x)))
        tables.setdefault((key[0], key[1], fps), []).extend(gs)
    keys = [TableKey(d, f, fps) for d, f, fps in tables]
    out = []
    for k in sorted(keys, key=lambda k: k.sort_key):
        same_name = [x for x in keys if x.dataset == k.dataset]
        title = k.dataset
        if len({fp for x in same_name for _, fp in x.fingerprints}) > 1 or \
                len([x for x in same_name if x.family == k.family]) > 1:
            sets = sorted({short_fingerprint(fp or None) for _, fp in k.fingerprints})
            title += f" (test set{'s' if len(sets) > 1 else ''} {', '.join(sets)})"
        if len({x.family for x in same_name}) > 1:
            title += f", {k.family}"
        k.title = title
        out.append((k, sorted(tables[(k.dataset, k.family, k.fingerprints)],
                              key=lambda g: (_row_key(g), _shots_k(split_shots(g.setting)[0] or "")))))
    return out


def fingerprint_note(key: TableKey) -> str:
    """The test set(s) of a table, for a footnote: `sha256:...`, or `5w1s, 5w5s sha256:...; 5w10s sha256:...`."""
    by_fp: dict[str, list[str]] = {}
    for shots, fp in key.fingerprints:
        by_fp.setdefault(fp or "unknown", []).append(shots)
    if len(by_fp) == 1:
        return f"test set (data fingerprint): {next(iter(by_fp))}"
    return "test sets (data fingerprints): " + "; ".join(f"{', '.join(s for s in shots if s)} {fp}".strip()
                                                         for fp, shots in by_fp.items())


def results_tables(meta: Metafile, groups: list[ResultGroup]) -> list[Table]:
    """One table per `TableKey`: rows model x setting x provenance, columns per metric ours | paper | Δ;
    few-shot tables put the shots side by side (`5w1s accuracy (%)`, `5w5s accuracy (%)`, ...)."""
    tables = []
    for key, gs in table_groups(groups):
        shots = sorted({split_shots(g.setting)[0] or "" for g in gs}, key=_shots_k) if key.family == "few-shot" \
            else [""]
        metrics = metrics_for(meta, gs)
        header = ["model", "setting", "data", "backbone", "selection", "seeds"]
        columns = []   # (shots, metric, with paper)
        for sh in shots:
            of_shot = [g for g in gs if (split_shots(g.setting)[0] or "") == sh] if key.family == "few-shot" else gs
            for m in metrics:
                if not any(m in g.metrics for g in of_shot):
                    continue
                label = (f"{sh} " if sh else "") + metric_label(meta, m)
                paper = _has_paper(meta, of_shot, m)
                columns.append((sh, m, paper))
                header += [f"{label} ours", "paper", "Δ"] if paper else [f"{label} ours"]
        rows_by_key: dict[tuple, dict[str, ResultGroup]] = {}
        for g in gs:
            rows_by_key.setdefault(_row_key(g), {})[split_shots(g.setting)[0] or "" if key.family == "few-shot"
                                                     else ""] = g
        rows = []
        for rkey, by_shot in rows_by_key.items():
            first = next(iter(by_shot.values()))
            seeds = {sh: ",".join(str(s) for s in g.seeds) for sh, g in by_shot.items()}
            seed_text = next(iter(seeds.values())) if len(set(seeds.values())) == 1 else \
                "; ".join(f"{sh}: {v}" for sh, v in seeds.items())
            row = [first.model, rkey[1], first.data_source, first.backbone or "—", first.model_selection, seed_text]
            for sh, m, paper in columns:
                g = by_shot.get(sh)
                row.append(fmt_ours(meta, m, g.mean_std(m) if g else None))
                if paper:
                    entry = meta.best(g.model, g.setting, g.dataset, m) if g else None
                    row.append(fmt_paper(meta, entry) + (f" [{meta.short(entry.paper)} {entry.table}]" if entry else ""))
                    row.append(fmt_diff(diff(meta, g, m, entry) if g else None, g, entry))
            rows.append(row)
        tables.append(Table(title=key.title, header=header, rows=rows, caption=fingerprint_note(key)))
    return tables


def _has_paper(meta: Metafile, groups: list[ResultGroup], metric: str) -> bool:
    return any(meta.best(g.model, g.setting, g.dataset, metric) is not None for g in groups)


def published_tables(meta: Metafile) -> list[Table]:
    """Every transcribed paper table: rows as printed, columns dataset x metric."""
    tables = []
    for paper, pinfo in meta.papers.items():
        for table, caption in (pinfo.get("tables") or {}).items():
            entries = meta.table_entries(paper, table)
            if not entries:
                continue
            cols: list[tuple[str, str, str]] = []
            rows: dict[tuple, dict] = {}
            for e in entries:
                shots, rest = split_shots(e.setting)
                col = (e.dataset, e.metric, shots or "")
                if col not in cols:
                    cols.append(col)
                row_setting = rest if not shots else ("5w*s" if not rest else f"5w*s,{rest}")
                rkey = (e.label, e.model, row_setting, e.source or "")
                rows.setdefault(rkey, {})[col] = e
            ds_order = {d: i for i, d in reversed(list(enumerate(c[0] for c in cols)))}
            m_order = {m: i for i, m in reversed(list(enumerate(c[1] for c in cols)))}
            # within a dataset: its headline metrics first (AP on XD-Violence), then as transcribed
            cols.sort(key=lambda c: (ds_order[c[0]], headline_rank(meta, c[0], c[1]), m_order[c[1]], _shots_k(c[2])))
            header = ["method (as printed)", "model", "setting"] + [
                f"{d} {s + ' ' if s else ''}{meta.metric_label(m)}" for d, m, s in cols]
            body = [[label, model, setting] + [fmt_paper(meta, cells.get(c)) for c in cols]
                    for (label, model, setting, _), cells in rows.items()]
            notes = sorted({f"{e.label}: {e.note}" for e in entries if e.note})
            title = f"{pinfo.get('short', paper)} {table}"
            cap = f"{caption}. Model selection: {pinfo.get('model_selection', 'not_stated')}."
            if notes:
                cap += " Notes: " + "; ".join(notes) + "."
            tables.append(Table(title=title, header=header, rows=body, caption=cap))
    return tables


# ---------------------------------------------------------------------------- renderers
INTRO = (
    "Generated by `vadbench leaderboard` from `{metafile}` (numbers transcribed from the papers) "
    "and the result files in {sources}. Do not edit by hand: the command rewrites this file.\n\n"
    "How to read the comparison tables: **ours** = mean ± sample std over seeds (no ± with one seed); "
    "a **95% CI half-width** column is the half-width of the accuracy's 95% confidence interval over the test "
    "episodes (1.96·std/√episodes), in the accuracy's unit (percentage points), averaged over seeds; "
    "few-shot tables put a model's shot counts side by side, each on its own episodes; "
    "**paper** = the published number for the same model, setting, dataset and metric, with its source "
    "(`[SSRL table1]` = table 1 of the SSRL paper); **Δ** = ours − paper, shown only for runs on real "
    "features from a pretrained or precomputed extractor (synthetic data is a smoke test; features of a "
    "randomly initialised extractor are not the papers' features: `n/c (random_init)`). **selection** = "
    "how the tested weights were chosen: `last` and `best_val` are honest; `oracle_best_on_test` (best "
    "test score during training) is what the RTFM/SSRL official code reports. **data** = `real` or "
    "`synthetic` features; **backbone** = `pretrained` or `random_init` feature extractor (the model's, or "
    "for `vadbench extract` features the sidecars' weights; `—` = precomputed features). Results on "
    "different test sets of one dataset name (different data fingerprints) get separate tables (few-shot: separate "
    "shot columns); the footnote under a table names its test sets."
)


def display_path(path: str | Path) -> str:
    """A path as a reader should see it: relative to the repository or the working directory when under them."""
    from vadbench.paths import REPO_DIR

    p = Path(path).resolve()
    for base in (Path(REPO_DIR).resolve(), Path.cwd().resolve()):
        try:
            return p.relative_to(base).as_posix()
        except ValueError:
            continue
    return p.as_posix()


def intro(meta: Metafile, sources: list[str] | None = None) -> str:
    """The leaderboard's introduction, naming the metafile and the result folders it was built from."""
    names = [display_path(s) for s in (sources or ["leaderboards/results"])]
    return INTRO.format(metafile=display_path(meta.path), sources=", ".join(f"`{n}`" for n in names))


def markdown_inline_html(text: str) -> str:
    """`**bold**`, `` `code` `` and blank-line paragraphs of our Markdown prose as HTML (the rest escaped)."""
    out = []
    for para in str(text).split("\n\n"):
        h = html.escape(para)
        h = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", h)
        h = re.sub(r"`(.+?)`", r"<code>\1</code>", h)
        out.append(f"<p>{h}</p>")
    return "\n".join(out)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(t: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in t.header) + " |",
             "|" + "|".join("---" for _ in t.header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render_markdown(meta: Metafile, groups: list[ResultGroup], n_files: int, plots: list[str] | None = None,
                    sources: list[str] | None = None) -> str:
    out = ["# vadbench leaderboard", "", intro(meta, sources), "", "## Our runs", ""]
    res = results_tables(meta, groups)
    out.append(f"{n_files} result file(s), {len(groups)} model/setting/dataset group(s).")
    out.append("")
    if not res:
        out += ["No result files yet: run `vadbench reproduce <table>` or `vadbench fit ... --results_dir "
                "leaderboards/results`.", ""]
    for t in res:
        out += [f"### {t.title}", "", markdown_table(t), "", f"<sub>{t.caption}</sub>", ""]
    if plots:
        out += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    out += ["## Paper references", "", "| ref | paper | model selection |", "|---|---|---|"]
    for paper, info in meta.papers.items():
        out.append(f"| {info.get('short', paper)} | {_md_cell(info.get('title', paper))} | "
                   f"{info.get('model_selection', 'not_stated')} |")
    out += ["", "## Published numbers", "",
            "Every results table of the papers, as transcribed in the metafile beside each model (`vadbench/models/<model>/metafile.yml`) "
            "(— = no number printed).", ""]
    for t in published_tables(meta):
        out += [f"### {t.title}", "", t.caption, "", markdown_table(t), ""]
    return "\n".join(out).rstrip() + "\n"


CSV_HEADER = ["dataset", "data_fingerprint", "model", "setting", "data_source", "backbone", "model_selection", "seeds", "n_seeds",
              "metric", "ours_mean", "ours_std", "paper_value", "paper_ref", "paper_model_selection", "diff"]


def render_csv(meta: Metafile, groups: list[ResultGroup]) -> str:
    """Long format, one line per group and metric; values in the paper's unit (percent)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for g in groups:
        for m in metrics_for(meta, [g]):
            stats = g.mean_std(m)
            if stats is None:
                continue
            entry = meta.best(g.model, g.setting, g.dataset, m)
            scale = metric_scale(meta, m)
            d = diff(meta, g, m, entry)
            w.writerow([g.dataset, g.data_fingerprint or "", g.model, g.setting, g.data_source, g.backbone or "", g.model_selection,
                        " ".join(str(s) for s in g.seeds), stats[2], m, f"{stats[0] * scale:.6g}",
                        f"{stats[1] * scale:.6g}", "" if entry is None else f"{entry.value:g}",
                        "" if entry is None else entry.ref,
                        "" if entry is None else meta.papers[entry.paper].get("model_selection", ""),
                        "" if d is None else f"{d:.6g}"])
    return buf.getvalue()


HTML_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
code{background:#f3f3f3;padding:0 3px}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}
tr:nth-child(even){background:#fafafa}caption{caption-side:top;text-align:left;color:#555;padding:4px 0}
img{max-width:48%;margin:0.5em;border:1px solid #ddd}"""


def html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in t.rows)
    cap = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def render_html(meta: Metafile, groups: list[ResultGroup], n_files: int, plots: list[str] | None = None,
                sources: list[str] | None = None) -> str:
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>vadbench leaderboard</title>",
             f"<style>{HTML_STYLE}</style></head><body>", "<h1>vadbench leaderboard</h1>",
             markdown_inline_html(intro(meta, sources)), "<h2>Our runs</h2>",
             f"<p>{n_files} result file(s), {len(groups)} model/setting/dataset group(s).</p>"]
    for t in results_tables(meta, groups):
        parts += [f"<h3>{html.escape(t.title)}</h3>", html_table(dataclasses.replace(t, caption="")),
                  f"<p><small>{html.escape(t.caption)}</small></p>"]
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [f"<img src=\"{html.escape(p)}\" alt=\"{html.escape(Path(p).stem)}\">" for p in plots]
    parts.append("<h2>Published numbers</h2>")
    for t in published_tables(meta):
        parts += [f"<h3>{html.escape(t.title)}</h3>", html_table(t)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------- one paper table (reproduce)
def reproduce_table(meta: Metafile, spec, groups: list[ResultGroup], data_source: str = "real") -> Table:
    """A paper table as `vadbench reproduce` prints it: the spec's rows, ours beside the paper's numbers.

    Real data: per dataset and metric, ours | paper | Δ. Synthetic data: ours on the synthetic set, then
    the paper's numbers per dataset (no difference: not comparable).
    """
    synthetic = data_source == "synthetic"
    header = ["row", "model", "setting", "selection", "seeds"]
    if synthetic:
        header += [f"ours {spec.synthetic_dataset} {meta.metric_label(m)}" for m in spec.metrics]
        header += [f"paper {d} {meta.metric_label(m)}" for d in spec.datasets for m in spec.metrics]
    else:
        for d in spec.datasets:
            for m in spec.metrics:
                header += [f"{d} {meta.metric_label(m)} ours", "paper", "Δ"]
    rows = []
    for row in spec.rows:
        wanted = [spec.synthetic_dataset] if synthetic else spec.datasets
        mine = [g for g in groups if g.model == row.model and g.setting == row.setting
                and g.data_source == data_source and g.dataset in wanted]
        # one line per model selection and, when a dataset holds several test sets, per test set
        fps = {}
        for g in mine:
            fps.setdefault((g.model_selection, g.dataset), set()).add(g.data_fingerprint or "")
        several = any(len(v) > 1 for v in fps.values())
        lines = sorted({(g.model_selection, (g.data_fingerprint or "") if several else "") for g in mine}) or [("—", "")]
        for sel, fp in lines:
            by_ds = {g.dataset: g for g in mine if g.model_selection == sel
                     and (not several or (g.data_fingerprint or "") == fp)}
            seeds = sorted({str(s) for g in by_ds.values() for s in g.seeds})
            label = row.label + (f" (test set {short_fingerprint(fp)})" if several else "")
            if synthetic and not getattr(row, "synthetic", True):
                label += " (not run on synthetic data)"
            line = [label, row.model, row.setting, sel, ",".join(seeds) or "—"]

            def paper_entry(d, m):
                return meta.best(row.model, row.paper_setting or row.setting, d, m,
                                 paper=row.paper or spec.paper, table=row.table or spec.table) \
                    or meta.best(row.model, row.paper_setting or row.setting, d, m)

            if synthetic:
                g = by_ds.get(spec.synthetic_dataset)
                line += [fmt_ours(meta, m, g.mean_std(m) if g else None) for m in spec.metrics]
                line += [fmt_paper(meta, paper_entry(d, m)) for d in spec.datasets for m in spec.metrics]
            else:
                for d in spec.datasets:
                    g = by_ds.get(d)
                    for m in spec.metrics:
                        e = paper_entry(d, m)
                        line += [fmt_ours(meta, m, g.mean_std(m) if g else None), fmt_paper(meta, e),
                                 fmt_diff(diff(meta, g, m, e) if g else None, g, e)]
            rows.append(line)
    pinfo = meta.papers.get(spec.paper, {})
    caption = (f"{spec.title}. Paper numbers: {pinfo.get('short', spec.paper)} {spec.table} "
               f"(model selection: {pinfo.get('model_selection', 'not_stated')}).")
    if synthetic:
        caption += " Ours: synthetic features, a smoke test; not comparable with the paper."
    return Table(title=spec.id, header=header, rows=rows, caption=caption)
