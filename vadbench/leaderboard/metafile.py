"""The published numbers, read from the metafile beside each model (`vadbench/models/<model>/metafile.yml`).

Every `metafile.yml` found by `vadbench.models.discovery` (a glob over the model folders, plus the extra
folders of `VADBENCH_MODEL_DIRS`) is read; their `papers` and `results` are merged into one `Metafile`.
Each result entry is one number printed in a paper's results table::

    {paper, table, model, label, dataset, setting, metric, value, [feature, supervision, source, note]}

`value` is as printed (percent for AUC and accuracy); `metrics[<metric>].scale` converts our result
values (fractions) to the paper's unit. Metrics are declared once in `vadbench/leaderboard/tables.yaml`
(a metafile may declare more); an undeclared frame-level metric (`frame_*`) is shown in percent like the
declared ones, labelled from its name (`generic_metric`). Papers are ordered by their `order` (then by
file and position), and entries follow their paper's order (tables keep the paper's row order). The
format of a metafile is described in docs/leaderboard.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

SHARED_FILE = Path(__file__).with_name("tables.yaml")  # metric declarations and few-shot shot overrides
DATASETS = ("ucf_crime", "shanghaitech", "ucsd_ped2", "xd_violence", "hmdb51", "kinetics100", "ucf_crime_v2", "any")
REQUIRED = ("paper", "table", "model", "label", "dataset", "setting", "metric", "value")
SOURCE_PRIORITY = {"this_paper": 0, "reimplemented": 1, "original_paper": 2}
TOP_LEVEL_KEYS = ("model", "paper", "configs", "metrics", "papers", "results", "ablations", "tables")


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
    order: int = 0  # position among all entries (tables keep the paper's row order)

    @property
    def ref(self) -> str:
        return f"{self.paper}/{self.table}"


@dataclass(frozen=True)
class ModelMeta:
    """One model's metafile: its paper, configs, ablation overrides and reproducible tables (raw)."""

    model: str
    path: Path
    paper: dict[str, Any]
    configs: tuple[str, ...] = ()
    ablations: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def config_paths(self) -> list[Path]:
        """The `configs:` as files: packaged names under vadbench/configs/, `./...` beside the metafile."""
        from vadbench.paths import CONFIGS_DIR

        return [self.path.parent / c if c.startswith("./") else CONFIGS_DIR / c for c in self.configs]


ACRONYMS = {"auc": "AUC", "ap": "AP", "pr": "PR", "far": "FAR", "roc": "ROC", "pr_auc": "PR-AUC"}


def generic_metric(metric: str) -> dict[str, Any]:
    """The declaration of an undeclared frame-level metric (`frame_<what>[_<subset>]`, e.g. a new metric of
    the MIL pipeline): a fraction shown in percent like the other frame metrics, labelled from its name
    (`frame_auc_abnormal` -> "frame AUC abnormal (%)"; `_micro`, the papers' default, is not repeated)."""
    if not metric.startswith("frame_"):
        return {}
    name = metric[len("frame_"):].replace("pr_auc", "pr-auc")
    words = [ACRONYMS.get(w, w.upper() if w == "pr-auc" else w) for w in name.split("_") if w != "micro"]
    return {"label": "frame " + " ".join(words) + " (%)", "scale": 100,
            "higher_is_better": "far" not in name.split("_")}


@dataclass
class Metafile:
    path: Path                          # the folder (or file) the metafiles were read from
    metrics: dict[str, dict[str, Any]]
    papers: dict[str, dict[str, Any]]
    entries: list[PaperEntry] = field(default_factory=list)
    models: dict[str, ModelMeta] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    dataset_metrics: dict[str, list[str]] = field(default_factory=dict)  # per dataset: metrics shown first

    # ------------------------------------------------------------------ look-ups
    def scale(self, metric: str) -> float:
        return float(self.metrics.get(metric, generic_metric(metric)).get("scale", 1))

    def metric_label(self, metric: str) -> str:
        return str(self.metrics.get(metric, generic_metric(metric)).get("label", metric))

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


def metafile_paths(path: str | Path | Iterable[str | Path] | None = None) -> list[Path]:
    """The metafiles to read: every model's (None), those under a folder (`<folder>/*/metafile.yml`),
    one file, or a list of files/folders."""
    from vadbench.models.discovery import METAFILE_NAME, metafiles

    if path is None:
        return metafiles()
    if not isinstance(path, (str, Path)):
        return [p for one in path for p in metafile_paths(one)]
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob(f"*/{METAFILE_NAME}")) or sorted(path.glob(METAFILE_NAME))
        if not found:
            raise ValueError(f"metafile folder {path}: no */{METAFILE_NAME} in it")
        return found
    if not path.is_file():
        raise ValueError(f"metafile {path} does not exist")
    return [path]


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{what} {path} is not readable YAML: {err}") from err


def read_model_metafile(path: str | Path) -> tuple[ModelMeta, dict]:
    """Read and check the shape of one `metafile.yml`; returns the model part and the raw mapping."""
    path = Path(path)
    data = _read_yaml(path, "metafile")
    if not isinstance(data, dict):
        raise ValueError(f"metafile {path}: expected a mapping with `model:` and `paper:`, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ValueError(f"metafile {path}: unknown top-level key(s) {unknown}; expected some of {list(TOP_LEVEL_KEYS)}")
    if not isinstance(data.get("model"), str) or not data["model"]:
        raise ValueError(f"metafile {path}: expected `model: <id>` (the model folder's name)")
    if path.name == "metafile.yml" and path.parent.name != data["model"]:
        raise ValueError(f"metafile {path}: `model: {data['model']}` differs from its folder name {path.parent.name!r}")
    paper = data.get("paper")
    if not isinstance(paper, dict) or not paper.get("title"):
        raise ValueError(f"metafile {path}: expected `paper:` with at least a `title:` (and venue, year, url)")
    expect = {"configs": list, "metrics": dict, "papers": dict, "results": list, "ablations": dict, "tables": dict}
    for key, kind in expect.items():
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise ValueError(f"metafile {path}: `{key}:` must be a {kind.__name__}, got {type(data[key]).__name__}")
    configs = data.get("configs") or []
    if not all(isinstance(c, str) for c in configs):
        raise ValueError(f"metafile {path}: `configs:` must list config names (strings), got {configs}")
    ablations = data.get("ablations") or {}
    for tag, over in ablations.items():
        if not isinstance(over, list) or not all(isinstance(o, str) for o in over):
            raise ValueError(f"metafile {path}: ablation {tag!r} must be a list of CLI overrides (strings), got {over!r}")
    for pid, pinfo in (data.get("papers") or {}).items():
        if not isinstance(pinfo, dict) or not isinstance(pinfo.get("tables"), dict):
            raise ValueError(f"metafile {path}: paper {pid!r} needs a `tables:` mapping (table id -> caption)")
    meta = ModelMeta(model=data["model"], path=path, paper=paper, configs=tuple(configs),
                     ablations={str(k): list(v) for k, v in ablations.items()}, tables=data.get("tables") or {})
    return meta, data


def load_metafile(path: str | Path | Iterable[str | Path] | None = None) -> Metafile:
    """Load and check the metafiles (default: the one beside every discovered model) into one `Metafile`.

    Errors name the file, the entry index and what was expected.
    """
    files = metafile_paths(path)
    shared = _read_yaml(SHARED_FILE, "leaderboard conventions") or {}
    metrics: dict[str, dict[str, Any]] = dict(shared.get("metrics") or {})
    papers_at: dict[str, tuple[tuple, dict, Path]] = {}
    raw_entries: list[tuple[Path, int, dict]] = []
    models: dict[str, ModelMeta] = {}
    for fi, file in enumerate(files):
        meta, data = read_model_metafile(file)
        if meta.model in models:
            raise ValueError(f"metafile {file}: model {meta.model!r} is already described by {models[meta.model].path}")
        models[meta.model] = meta
        for name, info in (data.get("metrics") or {}).items():
            metrics.setdefault(name, info)
        for pi, (pid, pinfo) in enumerate((data.get("papers") or {}).items()):
            if pid in papers_at:
                raise ValueError(f"metafile {file}: paper {pid!r} is already declared in {papers_at[pid][2]}")
            order = pinfo.get("order")
            papers_at[pid] = ((0, order, fi, pi) if isinstance(order, (int, float)) else (1, 0, fi, pi), pinfo, file)
        raw_entries += [(file, i, raw) for i, raw in enumerate(data.get("results") or [])]
    papers = {pid: info for pid, (_, info, _) in sorted(papers_at.items(), key=lambda kv: kv[1][0])}
    paper_rank = {pid: i for i, pid in enumerate(papers)}
    checked, seen = [], {}
    for file, i, raw in raw_entries:
        where = f"metafile {file}, entry {i}"
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
            raise ValueError(f"{where}: metric {raw['metric']!r} is not declared under `metrics:` "
                             f"(in {SHARED_FILE} or a metafile)")
        if raw["paper"] not in papers:
            raise ValueError(f"{where}: paper {raw['paper']!r} is not declared under `papers:` of any metafile")
        if raw["table"] not in (papers[raw["paper"]].get("tables") or {}):
            raise ValueError(f"{where}: table {raw['table']!r} is not declared for paper {raw['paper']!r}")
        if not isinstance(raw["value"], (int, float)) or isinstance(raw["value"], bool):
            raise ValueError(f"{where}: value must be a number, got {raw['value']!r}")
        key = (raw["paper"], raw["table"], raw["model"], raw["dataset"], raw["setting"], raw["metric"],
               raw.get("source"), raw.get("feature"))
        if key in seen:
            raise ValueError(f"{where}: duplicates {seen[key]} ({key})")
        seen[key] = f"entry {i} of {file}"
        checked.append(raw)
    checked.sort(key=lambda raw: paper_rank[raw["paper"]])  # stable: file order within a paper
    entries = [PaperEntry(**{**raw, "value": float(raw["value"]), "setting": str(raw["setting"])}, order=i)
               for i, raw in enumerate(checked)]
    where = Path(path) if isinstance(path, (str, Path)) else files[0].parent.parent if files else Path(".")
    dataset_metrics = {str(k): list(v) for k, v in (shared.get("dataset_metrics") or {}).items()}
    for ds, names in dataset_metrics.items():
        undeclared = [m for m in names if m not in metrics]
        if undeclared:
            raise ValueError(f"{SHARED_FILE}: dataset_metrics.{ds} names undeclared metric(s) {undeclared}")
    return Metafile(path=where, metrics=metrics, papers=papers, entries=entries, models=models, files=files,
                    dataset_metrics=dataset_metrics)
