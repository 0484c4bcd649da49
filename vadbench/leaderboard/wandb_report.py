"""The comparison report: numeric tables of our runs beside the papers' numbers, for wandb and as HTML.

- `numeric_tables(meta, groups)`: one table per paper table of `tables.yaml` that our results touch,
  then one per test set (dataset x data fingerprint x model family). Long format, one line per
  result group and metric, cells as numbers (`ours_mean`, `ours_std`, `n_seeds`, `paper`, `diff`,
  in the paper's unit), rows ordered by model then dataset, and each line linked to the wandb runs it
  aggregates (`runs`: run paths, `run_ids`, `run_names`, read from the result JSONs' `wandb` key).
- `log_report(tables, plots, ...)`: one wandb run (job type `report`) holding one `wandb.Table` per
  table and the plots; offline unless the user is logged in or sets `WANDB_MODE`.
- `render_report_html(...)`: the same tables and plots as one HTML page, for users without wandb.
- `read_offline_run(run_dir)`: what an offline run holds (config, summary, history, artifacts,
  name / group / tags / job type), read from its `.wandb` file without uploading anything.
"""

from __future__ import annotations

import html
import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vadbench.leaderboard.board import (
    HTML_STYLE, ResultGroup, diff, display_path, fingerprint_note, is_ci, metric_label, metric_scale, metrics_for,
    table_groups)
from vadbench.leaderboard.metafile import Metafile

BASE_COLUMNS = ["model", "setting", "dataset", "data_fingerprint", "data_source", "backbone", "model_selection",
                "metric", "metric_label", "ours_mean", "ours_std", "n_seeds", "seeds"]
# the wandb runs a line aggregates, and, for runs logged without wandb, their run folders and result files
LINK_COLUMNS = ["runs", "run_ids", "run_names", "result_files", "run_dirs", "result_paths"]


@dataclass
class NumericTable:
    """A comparison table whose number cells are numbers (None where there is no value)."""

    key: str                      # wandb key, e.g. "paper/rtfm-baseline", "runs/synthetic_29e701"
    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    runs: list[dict] = field(default_factory=list)   # every wandb run the table aggregates
    footnote: str = ""            # printed under the table (the test sets' fingerprints)

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]


def _num(x: float | None, digits: int = 6) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _links(g: ResultGroup) -> list:
    runs = sorted(g.runs, key=lambda r: (str(r.get("name", "")), str(r.get("path", ""))))
    records = sorted(g.records, key=lambda r: str(r.get("seed")))
    run_dirs = [str(Path(((r.get("extras") or {}).get("run_dir")) or "").resolve())
                if (r.get("extras") or {}).get("run_dir") else "-" for r in records]
    return [" ".join(str(r.get("path", "")) for r in runs), " ".join(str(r.get("id", "")) for r in runs),
            " ".join(str(r.get("name", "")) for r in runs), " ".join(sorted(g.paths)), " ".join(run_dirs),
            " ".join(str(Path(r.get("_path", "")).resolve()) for r in records)]


def _line(meta: Metafile, g: ResultGroup, metric: str) -> list | None:
    """One line of a numeric table; `ours_std` is empty with one seed and for a CI half-width (a ± itself)."""
    stats = g.mean_std(metric)
    if stats is None:
        return None
    scale = metric_scale(meta, metric)
    std = None if stats[2] < 2 or is_ci(meta, metric) else _num(stats[1] * scale)
    return [g.model, g.setting, g.dataset, g.data_fingerprint or "", g.data_source, g.backbone or "",
            g.model_selection, metric, metric_label(meta, metric), _num(stats[0] * scale), std, stats[2],
            ",".join(str(s) for s in g.seeds)]


def _order(groups: Sequence[ResultGroup]) -> list[ResultGroup]:
    return sorted(groups, key=lambda g: (g.model, g.dataset, g.data_fingerprint or "", g.setting, g.data_source,
                                         g.backbone or "", g.model_selection))


def paper_tables(meta: Metafile, groups: Sequence[ResultGroup], specs=None) -> list[NumericTable]:
    """One numeric table per paper table (the metafiles' `tables:`) with at least one of our result groups on
    that paper's real datasets. Synthetic runs are not set beside a paper's numbers (they would repeat in
    every table of their model); they are in the per-test-set tables."""
    from vadbench.leaderboard.specs import load_specs

    specs = specs or load_specs()
    out = []
    for tid in sorted(specs.tables):
        spec = specs.tables[tid]
        columns = ["row"] + BASE_COLUMNS + [f"paper {d}" for d in spec.datasets] + ["paper_ref", "diff"] + LINK_COLUMNS
        rows, runs = [], []
        for row in spec.rows:
            mine = [g for g in groups if g.model == row.model and g.setting == row.setting
                    and g.data_source == "real" and g.dataset in spec.datasets]
            for g in _order(mine):
                for m in spec.metrics:
                    line = _line(meta, g, m)
                    if line is None:
                        continue
                    entries = {d: meta.best(row.model, row.paper_setting or row.setting, d, m,
                                            paper=row.paper or spec.paper, table=row.table or spec.table)
                               or meta.best(row.model, row.paper_setting or row.setting, d, m) for d in spec.datasets}
                    own = entries.get(g.dataset)
                    refs = sorted({e.ref for e in entries.values() if e is not None})
                    rows.append([row.label] + line + [_num(e.value) if e else None for e in entries.values()]
                                + [" ".join(refs), _num(diff(meta, g, m, own))] + _links(g))
                runs += g.runs
        if rows:
            pinfo = meta.papers.get(spec.paper, {})
            caption = (f"{spec.title}. Paper numbers: {pinfo.get('short', spec.paper)} {spec.table} (model selection: "
                       f"{pinfo.get('model_selection', 'not_stated')}); ours = mean / sample std over seeds, in the "
                       "paper's unit; diff = ours - paper on real data only.")
            fps = sorted({f"{r[3]} {r[4] or 'unknown'}" for r in rows})    # dataset, data_fingerprint
            out.append(NumericTable(key=f"paper/{tid}", title=f"{tid}: {spec.title}", columns=columns, rows=rows,
                                    caption=caption, runs=runs,
                                    footnote=f"test set{'s' if len(fps) > 1 else ''} (data fingerprint): "
                                             + ", ".join(fps)))
    return out


def test_set_tables(meta: Metafile, groups: Sequence[ResultGroup]) -> list[NumericTable]:
    """One numeric table per table of the leaderboard (`board.table_groups`: a dataset and model family on one
    test set; few-shot: a model's shot counts together): every group on it, one line per group and metric."""
    out = []
    for key, gs in table_groups(list(groups)):
        rows, runs = [], []
        for g in _order(gs):
            for m in metrics_for(meta, [g]):
                line = _line(meta, g, m)
                if line is None:
                    continue
                entry = meta.best(g.model, g.setting, g.dataset, m)
                rows.append(line + [_num(entry.value) if entry else None, entry.ref if entry else "",
                                    _num(diff(meta, g, m, entry))] + _links(g))
            runs += g.runs
        slug = key.title.replace(" (test sets ", "_").replace(" (test set ", "_").replace(")", "") \
            .replace(", ", "_").replace(" ", "_")
        out.append(NumericTable(key=f"runs/{slug}", title=f"our runs on {key.title}",
                                columns=BASE_COLUMNS + ["paper", "paper_ref", "diff"] + LINK_COLUMNS, rows=rows,
                                caption="ours = mean / sample std over seeds, in the paper's unit", runs=runs,
                                footnote=fingerprint_note(key)))
    return out


def numeric_tables(meta: Metafile, groups: Sequence[ResultGroup], specs=None) -> list[NumericTable]:
    return paper_tables(meta, groups, specs) + test_set_tables(meta, groups)


# ---------------------------------------------------------------------------- wandb
def log_report(tables: Sequence[NumericTable], plots: Sequence[Path], project: str = "vadbench",
               name: str = "report", config: dict | None = None, save_dir: str | Path | None = None) -> str:
    """One wandb run (job type `report`) with one numeric `wandb.Table` per table and one image per plot.

    Returns the run's local directory (what `wandb sync` takes when offline).
    """
    import wandb

    from vadbench.loggers import default_mode

    linked = sorted({str(r.get("path")) for t in tables for r in t.runs if r.get("path")})
    save_dir = Path(save_dir or os.environ.get("WANDB_DIR") or ".").resolve()  # absolute: see vadbench.loggers
    save_dir.mkdir(parents=True, exist_ok=True)
    save_dir = str(save_dir)
    run = wandb.init(project=project, name=name, job_type="report", mode=default_mode(), dir=save_dir,
                     config={**(config or {}), "linked_runs": linked, "tables": [t.key for t in tables]},
                     tags=["report"], reinit="finish_previous")
    try:
        payload = {}
        for t in tables:
            payload[t.key] = wandb.Table(columns=list(t.columns), data=[list(r) for r in t.rows])
        for p in plots:
            payload["plot/" + Path(p).stem] = wandb.Image(str(p), caption=Path(p).stem.replace("_", " "))
        run.log(payload)
        run.summary["num_tables"] = len(tables)
        run.summary["num_plots"] = len(plots)
        run.summary["linked_runs"] = linked
        run_dir = str(Path(run.dir).parent)
    finally:
        run.finish()
    return run_dir


# ---------------------------------------------------------------------------- HTML
def _run_link(run: dict, out_dir: Path | None) -> str | None:
    """A run's URL when online, else its offline folder (relative to the report when possible)."""
    if run.get("url"):
        return str(run["url"])
    return _href(str(Path(run["dir"]).resolve()), out_dir) if run.get("dir") else None


def _cell(column: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}" if column in ("ours_mean", "ours_std", "diff") or column.startswith("paper") \
            else f"{value:g}"
    return html.escape(str(value))


def _href(path: str, out_dir: Path | None) -> str:
    """A local file or folder as a link target: relative to the report folder when there is one."""
    if out_dir is not None:
        return Path(os.path.relpath(Path(path), Path(out_dir).resolve())).as_posix()
    return Path(path).as_uri()


def _runs_cell(row: dict, runs_by_path: dict[str, dict], out_dir: Path | None) -> str:
    """The wandb runs a line aggregates (their URL online, their folder offline); for runs logged without
    wandb, each seed's run folder and result JSON."""
    links = []
    for path in str(row.get("runs") or "").split():
        r = runs_by_path.get(path, {})
        target = _run_link(r, out_dir)
        label = html.escape(str(r.get("name") or path))
        links.append(f"<a href=\"{html.escape(target)}\">{label}</a>" if target else label)
    if links:
        return "<br>".join(links)
    seeds = str(row.get("seeds") or "").split(",")
    dirs, results = str(row.get("run_dirs") or "").split(), str(row.get("result_paths") or "").split()
    for seed, run_dir, result in zip(seeds, dirs, results):
        parts = [f"<a href=\"{html.escape(_href(run_dir, out_dir))}\">run folder</a>"] if run_dir != "-" else []
        parts.append(f"<a href=\"{html.escape(_href(result, out_dir))}\">result</a>")
        links.append(f"seed {html.escape(seed)}: " + " · ".join(parts))
    return "<br>".join(links) or "—"


HIDDEN_HTML_COLUMNS = ("metric", "data_fingerprint", "run_ids", "run_names", "result_files", "run_dirs",
                       "result_paths")   # in report.json / wandb; the page stays narrow (fingerprints: footnote)
FOLDABLE_HTML_COLUMNS = ("setting", "dataset", "data_source", "backbone", "model_selection", "metric_label", "seeds",
                         "paper_ref", "diff")
HTML_HEADERS = {"metric_label": "metric", "ours_mean": "ours", "ours_std": "± std", "n_seeds": "seeds (n)"}


def render_report_html(tables: Sequence[NumericTable], plots: Sequence[str], sources: Sequence[str],
                       out_dir: str | Path | None = None) -> str:
    """The report as one HTML page (plots, offline run folders and result files referenced relative to `out_dir`)."""
    out_path = Path(out_dir) if out_dir is not None else None
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>vadbench report</title>",
             f"<style>{HTML_STYLE}\ntable{{font-size:0.8em}}td{{white-space:nowrap}}"
             "td.num{text-align:right;font-variant-numeric:tabular-nums}caption{max-width:1300px}"
             "p.footnote{font-size:0.75em;color:#666;margin:-1.2em 0 1.5em}</style></head><body>",
             "<h1>vadbench comparison report</h1>",
             "<p>Built by <code>vadbench report</code> from the result files in "
             + ", ".join(f"<code>{html.escape(display_path(s))}</code>" for s in sources)
             + ". <b>ours</b> / <b>± std</b> = mean and sample std over the seeds (no std with one seed), in the "
               "paper's unit (percent for AUC, AP, PR-AUC and accuracy); a <b>95% CI half-width</b> is the half-width "
               "of the accuracy's confidence interval over the test episodes, in the same unit (percentage points); "
               "<b>paper</b> = the published number; <b>diff</b> = ours − paper (real data only: synthetic runs are "
               "not set beside the papers' tables); <b>runs</b> = the wandb runs aggregated (offline runs link to "
               "their folder), or each seed's run folder and result file when the run was not logged to wandb. "
               "Tables never mix test sets: the footnote under each table names them.</p>"]
    if not tables:
        parts.append("<p>No result files found.</p>")
    for t in tables:
        runs_by_path = {str(r.get("path")): r for r in t.runs}
        cols = [c for c in t.columns if c not in HIDDEN_HTML_COLUMNS]
        # a column with one value in every row moves into the caption: the page stays readable
        same = {c: t.rows[0][t.columns.index(c)] for c in cols if c in FOLDABLE_HTML_COLUMNS and len(t.rows) > 0
                and len({str(r[t.columns.index(c)]) for r in t.rows}) == 1}
        cols = [c for c in cols if c not in same]
        common = "; ".join(f"{HTML_HEADERS.get(c, c)}: {'—' if v in (None, '') else v}" for c, v in same.items())
        head = "".join(f"<th>{html.escape(HTML_HEADERS.get(c, c))}</th>" for c in cols)
        body = []
        for r in t.rows:
            row = dict(zip(t.columns, r))
            cells = []
            for c in cols:
                v = row[c]
                cls = " class=\"num\"" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
                text = _runs_cell(row, runs_by_path, out_path) if c == "runs" else _cell(c, v)
                cells.append(f"<td{cls}>{text}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        parts += [f"<h2>{html.escape(t.title)}</h2>",
                  f"<table><caption>{html.escape(t.caption)}"
                  + (f"<br>All rows: {html.escape(common)}." if common else "")
                  + f"</caption><thead><tr>{head}</tr></thead>\n<tbody>\n"
                  + "\n".join(body) + "\n</tbody></table>"]
        if t.footnote:
            parts.append(f"<p class=\"footnote\">{html.escape(t.footnote)}</p>")
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [f"<figure style=\"display:inline-block;margin:0.5em;width:48%\"><img src=\"{html.escape(p)}\" "
                  f"alt=\"{html.escape(Path(p).stem)}\" style=\"max-width:100%\"><figcaption>"
                  f"{html.escape(Path(p).stem.replace('_', ' '))}</figcaption></figure>" for p in plots]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------- reading offline runs
def _wandb_log_records(path: Path):
    """The records of a `.wandb` transaction log (LevelDB log format: 7-byte header, 32 KiB blocks)."""
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a wandb transaction log (no ':W&B' header)")
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            pos += (block - pos % block) % block
            continue
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def _item_key(item) -> list[str]:
    return list(item.nested_key) if len(item.nested_key) else [item.key]


def read_offline_run(run_dir: str | Path, wait_s: float = 30.0) -> dict:
    """An offline run's content: {run: {id, name, group, job_type, tags}, config, summary, history,
    artifacts: [{name, type, files}], tables: {key: {columns, data}}, finished}. Reads only local files.

    wandb's service writes the log a moment after `finish()` returns: this waits up to `wait_s`
    seconds for the run's exit record.
    """
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            out = _read_offline_run(Path(run_dir))
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            out = None
        if out is not None and (out["finished"] or time.monotonic() > deadline):
            return out
        time.sleep(0.2)


def _read_offline_run(run_dir: Path) -> dict:
    from wandb.proto import wandb_internal_pb2 as pb

    logs = sorted(run_dir.glob("*.wandb"))
    if not logs:
        raise FileNotFoundError(f"{run_dir} holds no .wandb file; expected an offline run folder (offline-run-*)")
    out: dict = {"run": {}, "config": {}, "summary": {}, "history": [], "artifacts": [], "tables": {},
                 "finished": False}

    def put(tree: dict, keys: list[str], value_json: str) -> None:
        for k in keys[:-1]:
            tree = tree.setdefault(k, {})
        tree[keys[-1]] = json.loads(value_json)

    for raw in _wandb_log_records(logs[0]):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            out["run"] = {"id": r.run_id, "name": r.display_name, "group": r.run_group, "job_type": r.job_type,
                          "tags": list(r.tags), "project": r.project}
            for item in r.config.update:
                put(out["config"], _item_key(item), item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                put(out["config"], _item_key(item), item.value_json)
        elif kind == "summary":
            for item in rec.summary.update:
                out["summary"]["/".join(_item_key(item))] = json.loads(item.value_json)
        elif kind == "history":
            out["history"].append({"/".join(_item_key(i)): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "artifact":
            a = rec.artifact
            out["artifacts"].append({"name": a.name, "type": a.type,
                                     "files": [c.path for c in a.manifest.contents]})
        elif kind == "exit":
            out["finished"] = True
    for f in sorted((run_dir / "files" / "media" / "table").rglob("*.table.json")):
        rel = f.relative_to(run_dir / "files" / "media" / "table").as_posix()
        out["tables"][rel.rsplit("_", 2)[0]] = json.loads(f.read_text(encoding="utf-8"))
    return out
