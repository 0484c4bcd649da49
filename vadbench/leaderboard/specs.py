"""Paper-table specs for `vadbench reproduce` (`tables.yaml`): which runs make a table, and how.

`plan_runs(spec, data="real"|"synthetic")` expands a table into `Run`s, each one
`vadbench fit --config <cfg> [overrides] --setting <tag> --seed_everything <seed> --results_dir <dir>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vadbench.paths import CONFIGS_DIR

TABLES_FILE = Path(__file__).with_name("tables.yaml")
SHOTS_RE = re.compile(r"^\d+w\d+s$")


@dataclass(frozen=True)
class RowSpec:
    label: str
    model: str
    setting: str = "default"
    config: str | None = None          # template; default: the table's
    overrides: tuple[str, ...] = ()    # extra CLI overrides of this row
    paper: str | None = None           # metafile paper/table of this row's number (default: the table's)
    table: str | None = None
    paper_setting: str | None = None   # setting of the metafile entry, when it differs from ours
    datasets: tuple[str, ...] | None = None  # the row runs on these of the table's datasets only


@dataclass
class TableSpec:
    id: str
    title: str
    paper: str
    table: str
    datasets: list[str]
    metrics: list[str]
    seeds: list[int]
    rows: list[RowSpec]
    config: str = "{model}/{dataset}.yaml"
    synthetic_config: str = "{model}/synthetic.yaml"
    synthetic_dataset: str = "synthetic"
    synthetic_max_steps: int = 50


@dataclass
class Run:
    row: RowSpec
    dataset: str                  # dataset id the result will carry
    seed: int
    config: Path
    overrides: list[str] = field(default_factory=list)
    data_source: str = "real"

    @property
    def name(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9._=+-]+", "-", self.row.setting).strip("-")
        return f"{self.row.model}__{self.dataset}__{slug}__seed{self.seed}"

    def fit_args(self, results_dir: str | Path, work_dir: str | Path) -> list[str]:
        return ["fit", "--config", str(self.config), *self.overrides, "--setting", self.row.setting,
                "--seed_everything", str(self.seed), "--results_dir", str(results_dir),
                f"--trainer.default_root_dir={Path(work_dir) / self.name}"]

    def matches(self, record: dict) -> bool:
        """Same model, dataset, setting, seed and data source: this run's result already exists."""
        return (record.get("model") == self.row.model and record.get("dataset") == self.dataset
                and str(record.get("setting", "default")) == self.row.setting and record.get("seed") == self.seed
                and record.get("data_source") == self.data_source)


@dataclass
class Specs:
    tables: dict[str, TableSpec]
    ablations: dict[str, dict[str, list[str]]]
    shots: dict[str, list[str]]

    def get(self, table_id: str) -> TableSpec:
        if table_id not in self.tables:
            raise KeyError(f"unknown table {table_id!r}; known tables: {', '.join(sorted(self.tables))}")
        return self.tables[table_id]


def load_specs(path: str | Path | None = None) -> Specs:
    path = Path(path) if path else TABLES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"table specs {path} are not readable YAML: {err}") from err
    tables = {}
    for tid, t in (data.get("tables") or {}).items():
        where = f"table spec {path}: {tid}"
        for key in ("title", "paper", "table", "datasets", "metrics", "rows"):
            if key not in t:
                raise ValueError(f"{where}: missing `{key}`")
        rows = []
        for i, r in enumerate(t["rows"]):
            if "model" not in r or "label" not in r:
                raise ValueError(f"{where}, row {i}: needs `label` and `model`, got {r}")
            rows.append(RowSpec(label=r["label"], model=r["model"], setting=str(r.get("setting", "default")),
                                config=r.get("config"), overrides=tuple(r.get("overrides", ())),
                                paper=r.get("paper"), table=r.get("table"), paper_setting=r.get("paper_setting"),
                                datasets=tuple(r["datasets"]) if r.get("datasets") else None))
        tables[tid] = TableSpec(
            id=tid, title=t["title"], paper=t["paper"], table=t["table"], datasets=list(t["datasets"]),
            metrics=list(t["metrics"]), seeds=[int(s) for s in t.get("seeds", [0])], rows=rows,
            config=t.get("config", "{model}/{dataset}.yaml"),
            synthetic_config=t.get("synthetic_config", "{model}/synthetic.yaml"),
            synthetic_dataset=t.get("synthetic_dataset", "synthetic"),
            synthetic_max_steps=int(t.get("synthetic_max_steps", 50)))
    return Specs(tables=tables, ablations=data.get("ablations") or {}, shots=data.get("shots") or {})


def split_setting(setting: str) -> tuple[str | None, str | None]:
    """"5w1s,modules=kps" -> ("5w1s", "modules=kps"); "5w1s" -> ("5w1s", None); "default" -> (None, None)."""
    head, _, rest = setting.partition(",")
    if SHOTS_RE.match(head):
        return head, (rest or None)
    return None, (None if setting == "default" else setting)


def ablation_overrides(specs: Specs, row: RowSpec) -> list[str]:
    shots, ablation = split_setting(row.setting)
    if ablation is None:
        return []
    table = specs.ablations.get(row.model, {})
    if ablation not in table:
        raise ValueError(f"no overrides for model {row.model!r} ablation {ablation!r} in {TABLES_FILE} "
                         f"(`ablations: {row.model}:`); known: {sorted(table)}")
    return list(table[ablation])


def _config_path(template: str, model: str, dataset: str, shots: str | None) -> Path:
    rel = template.format(model=model, dataset=dataset, shots=shots or "")
    p = Path(rel)
    return p if p.is_absolute() else CONFIGS_DIR / p


def plan_runs(specs: Specs, spec: TableSpec, data: str = "real", seeds: list[int] | None = None,
              max_steps: int | None = None, extra: list[str] | None = None) -> tuple[list[Run], list[Path]]:
    """Expand a table into runs; returns (runs, missing config files)."""
    seeds = list(seeds if seeds is not None else spec.seeds)
    runs, missing = [], []
    for row in spec.rows:
        shots, _ = split_setting(row.setting)
        overrides = ablation_overrides(specs, row) + list(row.overrides)
        if data == "synthetic":
            cfg = _config_path(spec.synthetic_config, row.model, spec.synthetic_dataset, shots)
            shot_over: list[str] = []
            if not cfg.is_file() and "{shots}" in spec.synthetic_config:
                # another synthetic config of the model, with this setting's way/shot overrides
                fallbacks = [_config_path("{model}/synthetic.yaml", row.model, spec.synthetic_dataset, shots)]
                fallbacks += sorted((CONFIGS_DIR / row.model).glob("synthetic_*.yaml"))
                found = next((f for f in fallbacks if f.is_file()), None)
                if found is not None and shots in specs.shots:
                    cfg, shot_over = found, list(specs.shots[shots])
            steps = max_steps if max_steps is not None else spec.synthetic_max_steps
            over = shot_over + overrides + [f"--trainer.max_steps={steps}"] + list(extra or [])
            targets = [(spec.synthetic_dataset, cfg, over)]
        else:
            over = overrides + ([f"--trainer.max_steps={max_steps}"] if max_steps is not None else []) + list(extra or [])
            targets = [(ds, _config_path(row.config or spec.config, row.model, ds, shots), over)
                       for ds in spec.datasets if row.datasets is None or ds in row.datasets]
        for ds, cfg, over in targets:
            if not cfg.is_file() and cfg not in missing:
                missing.append(cfg)
            for seed in seeds:
                runs.append(Run(row=row, dataset=ds, seed=seed, config=cfg, overrides=list(over),
                                data_source="synthetic" if data == "synthetic" else "real"))
    return runs, missing
