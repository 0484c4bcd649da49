"""The metafile of published numbers (`leaderboards/metafile.yaml`): loading, checking, look-ups.

Each entry is one number printed in a paper's results table::

    {paper, table, model, label, dataset, setting, metric, value, [feature, supervision, source, note]}

`value` is as printed (percent for AUC and accuracy); `metrics[<metric>].scale` converts our
result values (fractions) to the paper's unit. See the file's header for the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vadbench.paths import LEADERBOARDS_DIR

METAFILE = LEADERBOARDS_DIR / "metafile.yaml"
DATASETS = ("ucf_crime", "shanghaitech", "ucsd_ped2", "hmdb51", "kinetics100", "ucf_crime_v2", "any")
REQUIRED = ("paper", "table", "model", "label", "dataset", "setting", "metric", "value")
SOURCE_PRIORITY = {"this_paper": 0, "reimplemented": 1, "original_paper": 2}


@dataclass(frozen=True)
class PaperEntry:
    paper: str
    table: str
    model: str
    label: str
    dataset: str
    setting: str
    metric: str
    value: float
    feature: str | None = None
    supervision: str | None = None
    source: str | None = None
    note: str | None = None
    order: int = 0  # position in the metafile (tables keep the paper's row order)

    @property
    def ref(self) -> str:
        return f"{self.paper}/{self.table}"


@dataclass
class Metafile:
    path: Path
    metrics: dict[str, dict[str, Any]]
    papers: dict[str, dict[str, Any]]
    entries: list[PaperEntry] = field(default_factory=list)

    # ------------------------------------------------------------------ look-ups
    def scale(self, metric: str) -> float:
        return float(self.metrics.get(metric, {}).get("scale", 1))

    def metric_label(self, metric: str) -> str:
        return str(self.metrics.get(metric, {}).get("label", metric))

    def decimals(self, paper: str) -> int:
        return int(self.papers.get(paper, {}).get("decimals", 2))

    def short(self, paper: str) -> str:
        return str(self.papers.get(paper, {}).get("short", paper))

    def table_entries(self, paper: str, table: str) -> list[PaperEntry]:
        return [e for e in self.entries if e.paper == paper and e.table == table]

    def find(self, model: str, setting: str, dataset: str, metric: str, paper: str | None = None,
             table: str | None = None) -> list[PaperEntry]:
        """Entries for one number, best first (the proposing paper, then reimplementations, then
        numbers quoted from original papers; ties in metafile order)."""
        hits = [e for e in self.entries if e.model == model and e.setting == setting and e.dataset == dataset
                and e.metric == metric and (paper is None or e.paper == paper) and (table is None or e.table == table)]

        def rank(e: PaperEntry) -> tuple:
            proposes = model in self.papers.get(e.paper, {}).get("proposes", [])
            return (0 if proposes else 1, SOURCE_PRIORITY.get(e.source or "", 1), e.order)

        return sorted(hits, key=rank)

    def best(self, model: str, setting: str, dataset: str, metric: str, **kw) -> PaperEntry | None:
        hits = self.find(model, setting, dataset, metric, **kw)
        return hits[0] if hits else None


def load_metafile(path: str | Path | None = None) -> Metafile:
    """Load and check the metafile; errors name the file, the entry index and what was expected."""
    path = Path(path) if path is not None else METAFILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"metafile {path} is not readable YAML: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ValueError(f"metafile {path}: expected a mapping with an `entries` list")
    metrics = data.get("metrics") or {}
    papers = data.get("papers") or {}
    entries, seen = [], {}
    for i, raw in enumerate(data["entries"]):
        where = f"metafile {path}, entry {i}"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected a mapping, got {raw!r}")
        missing = [k for k in REQUIRED if k not in raw]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing} in {raw}")
        unknown = set(raw) - (set(PaperEntry.__dataclass_fields__) - {"order"})
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        if raw["dataset"] not in DATASETS:
            raise ValueError(f"{where}: dataset {raw['dataset']!r} is not one of {list(DATASETS)}")
        if raw["metric"] not in metrics:
            raise ValueError(f"{where}: metric {raw['metric']!r} is not declared under `metrics:`")
        if raw["paper"] not in papers:
            raise ValueError(f"{where}: paper {raw['paper']!r} is not declared under `papers:`")
        if raw["table"] not in (papers[raw["paper"]].get("tables") or {}):
            raise ValueError(f"{where}: table {raw['table']!r} is not declared for paper {raw['paper']!r}")
        if not isinstance(raw["value"], (int, float)) or isinstance(raw["value"], bool):
            raise ValueError(f"{where}: value must be a number, got {raw['value']!r}")
        key = (raw["paper"], raw["table"], raw["model"], raw["dataset"], raw["setting"], raw["metric"],
               raw.get("source"), raw.get("feature"))
        if key in seen:
            raise ValueError(f"{where}: duplicates entry {seen[key]} ({key})")
        seen[key] = i
        entries.append(PaperEntry(**{**raw, "value": float(raw["value"]), "setting": str(raw["setting"])}, order=i))
    return Metafile(path=path, metrics=metrics, papers=papers, entries=entries)
