"""Paper-table specs for `vadbench reproduce`: which runs make a table, and how.

The tables and each model's ablation overrides live in the metafile beside the model
(`vadbench/models/<model>/metafile.yml`, keys `tables:` and `ablations:`), found by discovery; the
few-shot `shots:` overrides are shared (`vadbench/leaderboard/tables.yaml`).
`plan_runs(spec, data="real"|"synthetic")` expands a table into `Run`s, each one
`vadbench fit --config <cfg> [overrides] --setting <tag> --seed_everything <seed> --results_dir <dir>`.
A relative config template is a packaged config name (under `vadbench/configs/`), or, starting with
`./`, a path relative to the metafile's folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from vadbench.paths import CONFIGS_DIR

TABLES_FILE = Path(__file__).with_name("tables.yaml")  # shared: metric declarations, few-shot shot overrides
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
    # False: the row is not run on synthetic data, where its setting would change nothing (STA-MIL's
    # `features=c3d` is a config of its own on real data; on synthetic data it would repeat the I3D row)
    synthetic: bool = True


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
    source: Path | None = None            # the metafile that declares the table


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
    ablations: dict[str, dict[str, list[str]]]   # model -> ablation tag -> overrides
    shots: dict[str, list[str]]
    ablation_sources: dict[str, Path] = field(default_factory=dict)  # model -> its metafile

    def get(self, table_id: str) -> TableSpec:
        if table_id not in self.tables:
            raise KeyError(f"unknown table {table_id!r}; known tables: {', '.join(sorted(self.tables))}")
        return self.tables[table_id]


def _table_spec(tid: str, t: dict, where: str, source: Path | None) -> TableSpec:
    if not isinstance(t, dict):
        raise ValueError(f"{where}: expected a mapping, got {t!r}")
    for key in ("title", "paper", "table", "datasets", "metrics", "rows"):
        if key not in t:
            raise ValueError(f"{where}: missing `{key}`")
    rows = []
    for i, r in enumerate(t["rows"]):
        if not isinstance(r, dict) or "model" not in r or "label" not in r:
            raise ValueError(f"{where}, row {i}: needs `label` and `model`, got {r}")
        rows.append(RowSpec(label=r["label"], model=r["model"], setting=str(r.get("setting", "default")),
                            config=r.get("config"), overrides=tuple(r.get("overrides", ())),
                            paper=r.get("paper"), table=r.get("table"), paper_setting=r.get("paper_setting"),
                            datasets=tuple(r["datasets"]) if r.get("datasets") else None,
                            synthetic=bool(r.get("synthetic", True))))
    return TableSpec(
        id=tid, title=t["title"], paper=t["paper"], table=t["table"], datasets=list(t["datasets"]),
        metrics=list(t["metrics"]), seeds=[int(s) for s in t.get("seeds", [0])], rows=rows,
        config=t.get("config", "{model}/{dataset}.yaml"),
        synthetic_config=t.get("synthetic_config", "{model}/synthetic.yaml"),
        synthetic_dataset=t.get("synthetic_dataset", "synthetic"),
        synthetic_max_steps=int(t.get("synthetic_max_steps", 50)), source=source)


def load_specs(path: str | Path | None = None) -> Specs:
    """The reproducible tables and ablations of every model's metafile (default), or of the metafiles
    under a folder / in one file (`vadbench.leaderboard.metafile.metafile_paths`)."""
    from vadbench.leaderboard.metafile import metafile_paths, read_model_metafile

    try:
        shared = yaml.safe_load(TABLES_FILE.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"table conventions {TABLES_FILE} are not readable YAML: {err}") from err
    tables: dict[str, TableSpec] = {}
    ablations: dict[str, dict[str, list[str]]] = {}
    sources: dict[str, Path] = {}
    for file in metafile_paths(path):
        meta, _ = read_model_metafile(file)
        if meta.ablations:
            ablations[meta.model] = meta.ablations
            sources[meta.model] = file
        for tid, t in meta.tables.items():
            if tid in tables:
                raise ValueError(f"metafile {file}: table {tid!r} is already declared in {tables[tid].source}")
            tables[tid] = _table_spec(tid, t, f"metafile {file}: table {tid}", file)
    return Specs(tables=dict(sorted(tables.items())), ablations=ablations, shots=shared.get("shots") or {},
                 ablation_sources=sources)


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
        where = specs.ablation_sources.get(row.model, f"vadbench/models/{row.model}/metafile.yml")
        raise ValueError(f"no overrides for model {row.model!r} ablation {ablation!r}: expected it under "
                         f"`ablations:` in {where}; known: {sorted(table)}")
    return list(table[ablation])


def _config_path(template: str, model: str, dataset: str, shots: str | None, source: Path | None = None) -> Path:
    rel = template.format(model=model, dataset=dataset, shots=shots or "")
    p = Path(rel)
    if p.is_absolute():
        return p
    if rel.startswith("./") and source is not None:
        return source.parent / p
    return CONFIGS_DIR / p


def _shot_fallback(template: str, model: str, dataset: str, shots: str, source: Path | None) -> Path | None:
    """A config of the same model and dataset for another few-shot setting (closest K, then name), or the
    setting-free one: used with the `shots:` overrides when the setting's own config does not exist."""
    plain = _config_path(template.replace("_{shots}", "").replace("{shots}", ""), model, dataset, None, source)
    if plain.is_file():
        return plain
    want = int(shots.split("w")[1][:-1])
    siblings = [p for p in plain.parent.glob(f"{plain.stem}_*.yaml") if SHOTS_RE.match(p.stem[len(plain.stem) + 1:])]
    siblings.sort(key=lambda p: (abs(int(p.stem.rsplit("w", 1)[1][:-1]) - want), p.name))
    return siblings[0] if siblings else None


def plan_runs(specs: Specs, spec: TableSpec, data: str = "real", seeds: list[int] | None = None,
              max_steps: int | None = None, extra: list[str] | None = None,
              roots: dict[str, str] | None = None) -> tuple[list[Run], list[Path]]:
    """Expand a table into runs; returns (runs, missing config files).

    A few-shot setting without a config of its own uses a sibling config of the model and dataset with
    the `shots:` overrides. `roots` ({dataset id: folder}, real data only) adds each run's data roots
    (`data_root_overrides`).
    """
    seeds = list(seeds if seeds is not None else spec.seeds)
    runs, missing = [], []
    for row in spec.rows:
        shots, _ = split_setting(row.setting)
        overrides = ablation_overrides(specs, row) + list(row.overrides)
        if data == "synthetic":
            templates = [(spec.synthetic_dataset, spec.synthetic_config)]
            steps = max_steps if max_steps is not None else spec.synthetic_max_steps
            tail = [f"--trainer.max_steps={steps}"] + list(extra or [])
            if not row.synthetic:
                templates = []
        else:
            templates = [(ds, row.config or spec.config) for ds in spec.datasets
                         if row.datasets is None or ds in row.datasets]
            tail = ([f"--trainer.max_steps={max_steps}"] if max_steps is not None else []) + list(extra or [])
        for ds, template in templates:
            cfg = _config_path(template, row.model, ds, shots, spec.source)
            shot_over: list[str] = []
            if not cfg.is_file() and "{shots}" in template and shots in specs.shots:
                found = _shot_fallback(template, row.model, ds, shots, spec.source)
                if found is not None:
                    cfg, shot_over = found, list(specs.shots[shots])
            if not cfg.is_file() and cfg not in missing:
                missing.append(cfg)
            root_over = data_root_overrides(cfg, roots) if roots and data != "synthetic" and cfg.is_file() else []
            for seed in seeds:
                runs.append(Run(row=row, dataset=ds, seed=seed, config=cfg,
                                overrides=shot_over + overrides + root_over + tail,
                                data_source="synthetic" if data == "synthetic" else "real"))
    return runs, missing


# Data blocks name their datasets in these keys (MIL: `dataset`; few-shot: `dataset`, and `test_dataset`
# when testing on another one) and read them from the matching root key.
ROOT_KEYS = {"dataset": "root", "test_dataset": "test_root"}


def data_root_overrides(config: Path, roots: dict[str, str]) -> list[str]:
    """`--data.init_args.<root key>=<folder>` for each dataset the config reads that `roots` names."""
    from vadbench.paths import load_config

    init = ((load_config(config).get("data") or {}).get("init_args") or {})
    out = []
    for ds_key, root_key in ROOT_KEYS.items():
        ds = init.get(ds_key)
        if ds and ds in roots:
            out.append(f"--data.init_args.{root_key}={roots[ds]}")
    return out


@lru_cache(maxsize=None)
def _data_init_args(config: str) -> dict:
    """`data.init_args` of a (composed) config: every run of a table shares a few configs, read once."""
    from vadbench.paths import load_config

    return ((load_config(config).get("data") or {}).get("init_args") or {})


def missing_roots(run: Run) -> list[str]:
    """The real datasets a planned run reads without a data folder (no `--root DATASET=DIR`, none in its
    config or overrides), or whose folder does not exist: such a run would fail at once."""
    if run.data_source != "real" or not run.config.is_file():
        return []
    init = _data_init_args(str(run.config))
    given = {}
    for arg in run.overrides:
        key, eq, value = arg.removeprefix("--").partition("=")
        if eq and key.startswith("data.init_args."):
            given[key.removeprefix("data.init_args.")] = value
    out = []
    for ds_key, root_key in ROOT_KEYS.items():
        ds = init.get(ds_key)
        if ds_key == "test_dataset" and not ds:
            continue
        root = given.get(root_key, init.get(root_key))
        if ds and ds != "synthetic" and (root in (None, "", "null") or not Path(str(root)).expanduser().is_dir()):
            out.append(ds)
    return out


def parse_roots(values: list[str] | None) -> dict[str, str]:
    """["ucf_crime=/data/ucf", ...] -> {"ucf_crime": "/data/ucf"}; errors name the bad value."""
    from vadbench.leaderboard.metafile import DATASETS

    roots: dict[str, str] = {}
    for v in values or []:
        ds, sep, folder = v.partition("=")
        if not sep or not ds or not folder:
            raise ValueError(f"--root {v!r}: expected DATASET=FOLDER, e.g. ucf_crime=/data/UCF_I3D")
        if ds not in DATASETS or ds == "any":
            raise ValueError(f"--root {v!r}: unknown dataset {ds!r}; expected one of "
                             f"{[d for d in DATASETS if d != 'any']}")
        roots[ds] = folder
    return roots
