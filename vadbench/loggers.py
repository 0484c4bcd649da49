"""Weights & Biases for `vadbench fit|test`: runs you can find, compare and trust.

Add wandb to any run with the packaged overlay or a class path:

    vadbench fit --config rtfm/synthetic.yaml --config logger/wandb.yaml
    vadbench fit --config rtfm/synthetic.yaml --trainer.logger vadbench.loggers.VadbenchWandbLogger
    vadbench fit ... --trainer.logger WandbLogger          # Lightning's own logger works too

Offline by default: the run is written under the run folder (the run's own folder under
`trainer.default_root_dir`, default `runs/`: `runs/<model>/<dataset>/<setting>/<run>/wandb/offline-run-*`)
and uploaded later with `wandb sync`. A run goes online only
when the user is logged in (`wandb login`, or `WANDB_API_KEY`) or sets `WANDB_MODE` (which always
wins: `WANDB_MODE=disabled` turns wandb off). `WANDB_DIR`, if set, replaces the run folder.

Each run logs (see `prepare_loggers` and `log_test_result`):
- config: the full resolved config (`WandbSaveConfigCallback`, Lightning's SaveConfigCallback hook),
  plus `vadbench/model`, `vadbench/dataset`, `vadbench/setting`, `vadbench/seed`, ...; nothing else
  (Lightning's hyper-parameter logging, which would repeat `net`, `loss`, `optimizer` at the top, is off);
- name `<model>-<dataset>-<setting>-seed<seed>`, group `<model>-<dataset>-<setting>` (the seeds of one
  experiment), tags (model, dataset, data source, setting, seed), job type (the verb);
- per-step metrics (`train/<loss term>`, `val/...`) through Lightning's logger, x-axis the global step;
- after test: the test metrics as summary values, ROC and PR curves as `wandb.plot` charts
  (frame level, from the per-video scores), and the result JSON, scores and checkpoint as artifacts.
The run's id and path are written into the result JSON (`wandb` key), which `vadbench report` reads
to link its comparison tables to the runs they aggregate.
"""

from __future__ import annotations

import netrc
import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger

DEFAULT_PROJECT = "vadbench"
CURVE_POINTS = 400  # points kept per ROC / PR curve chart (the full curve of 50k frames is too heavy)


def wandb_logged_in() -> bool:
    """True when an API key is available (env var or `wandb login`'s netrc entry); never a network call."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators(os.environ.get("WANDB_BASE_URL", "api.wandb.ai").split("//")[-1])
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


def default_mode() -> str:
    """`WANDB_MODE` when set, else online when logged in, else offline."""
    return os.environ.get("WANDB_MODE") or ("online" if wandb_logged_in() else "offline")


class VadbenchWandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger with vadbench's defaults (offline unless logged in, files in the run folder).

    Its own name, so that `--trainer.logger WandbLogger` still means Lightning's class unambiguously.

    Args:
        name: run name; default `<model>-<dataset>-<setting>-seed<seed>`.
        save_dir: where the `wandb/` folder goes; default the run folder (`trainer.default_root_dir`)
            or `WANDB_DIR`; never the working directory.
        project: wandb project (default `vadbench`, or `WANDB_PROJECT`).
        group: default `<model>-<dataset>-<setting>` (all seeds of one experiment).
        tags: extra tags, added to the automatic ones (model, dataset, data source, setting, seed).
        job_type: default the verb (`fit`, `test`).
        mode: `online`, `offline` or `disabled`; default `WANDB_MODE`, else online when logged in, else offline.
        log_checkpoint: attach the tested checkpoint as a `model` artifact after test.
        log_scores: attach the result JSON and per-video scores and draw the ROC / PR charts after test.
    """

    def __init__(self, name: str | None = None, save_dir: str | None = None, project: str | None = None,
                 group: str | None = None, tags: list[str] | None = None, job_type: str | None = None,
                 mode: str | None = None, id: str | None = None, log_checkpoint: bool = True,
                 log_scores: bool = True) -> None:
        super().__init__(name=name, save_dir=save_dir, project=project or os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT),
                         id=id, group=group, tags=list(tags or []), job_type=job_type, mode=mode or default_mode())
        self.log_checkpoint = log_checkpoint
        self.log_scores = log_scores

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """Nothing: the full resolved config is logged whole by `WandbSaveConfigCallback`; Lightning's own
        call would add the LightningModule's constructor arguments (`net`, `loss`, `optimizer`,
        `_instantiator`) again as top-level keys beside the nested `model:` block."""


def _wandb_loggers(trainer) -> list:
    return [lg for lg in getattr(trainer, "loggers", []) if isinstance(lg, _LightningWandbLogger)]


def run_identity(cli) -> dict[str, Any]:
    """Model / dataset / setting / seed of the CLI's run (what names, groups and tags are made of)."""
    sub = cli.config.get(cli.subcommand) if cli.subcommand else cli.config
    data_meta = {}
    if hasattr(cli.datamodule, "result_metadata"):
        try:
            data_meta = cli.datamodule.result_metadata()
        except Exception:  # noqa: BLE001 - metadata that needs `setup()` is filled in after test
            data_meta = {}
    dataset = data_meta.get("dataset") or getattr(cli.datamodule, "dataset_id", None) or \
        type(cli.datamodule).__name__.lower()
    return {"model": getattr(cli.model, "model_id", type(cli.model).__name__.lower()),
            "model_class": f"{type(cli.model).__module__}.{type(cli.model).__qualname__}",
            "dataset": str(dataset), "data_source": str(data_meta.get("data_source", "")),
            "setting": str(sub.get("setting", "default")), "seed": sub.get("seed_everything"),
            "verb": cli.subcommand or "run"}


def prepare_loggers(cli) -> None:
    """Fill in each wandb logger's run name, group, tags, job type and folder before its run starts.

    Called by the CLI after the classes are instantiated (the wandb run is created lazily, at the
    trainer's setup), so values the user set explicitly are kept.
    """
    loggers = _wandb_loggers(cli.trainer)
    if not loggers:
        return
    ident = run_identity(cli)
    exp = f"{ident['model']}-{ident['dataset']}-{ident['setting']}"
    auto_tags = [ident["model"], ident["dataset"], ident["setting"], f"seed{ident['seed']}"] + \
        ([ident["data_source"]] if ident["data_source"] else [])
    for lg in loggers:
        init = lg._wandb_init
        if lg._experiment is not None:
            continue
        if not init.get("name"):
            init["name"] = lg._name = f"{exp}-seed{ident['seed']}"
        init["group"] = init.get("group") or exp
        init["job_type"] = init.get("job_type") or ident["verb"]
        init["tags"] = sorted(set(auto_tags) | set(init.get("tags") or []))
        if init.get("anonymous") is None:
            init.pop("anonymous", None)  # Lightning passes None; wandb warns that the setting does nothing
        if init.get("mode") is None and not isinstance(lg, VadbenchWandbLogger):  # Lightning's own logger
            init["mode"] = default_mode() if not lg._offline else "offline"
        if not isinstance(lg, VadbenchWandbLogger):   # same reason as VadbenchWandbLogger.log_hyperparams
            lg.log_hyperparams = VadbenchWandbLogger.log_hyperparams.__get__(lg)
        if lg._save_dir in (None, ".", "./"):  # never the working directory (a ./vadbench/ there shadows the package)
            lg._save_dir = os.environ.get("WANDB_DIR") or cli.trainer.default_root_dir or "runs"
        # absolute: wandb's service process keeps the working directory it was started in, so a
        # relative folder would land there (another run's folder, or the source tree)
        save_dir = Path(lg._save_dir).resolve()
        save_dir.mkdir(parents=True, exist_ok=True)
        init["dir"] = lg._save_dir = str(save_dir)
        init["config"] = {**(init.get("config") or {}), **{f"vadbench/{k}": v for k, v in ident.items()}}


class WandbSaveConfigCallback(SaveConfigCallback):
    """Writes `config.yaml` as Lightning does and sends the full resolved config to each wandb run."""

    def save_config(self, trainer, pl_module, stage: str) -> None:
        loggers = _wandb_loggers(trainer)
        if not loggers:
            return
        import yaml

        text = self.parser.dump(self.config, format="yaml", skip_none=False, skip_check=True)
        # top-level options left unset (`optimizer: null` of LightningCLI beside the model's own optimizer,
        # `ckpt_path: null`) would read as duplicates of the nested values: only what is set is logged
        resolved = {k: v for k, v in (yaml.safe_load(text) or {}).items() if v is not None}
        for lg in loggers:
            lg.experiment.config.update(resolved, allow_val_change=True)
            run_files = getattr(lg.experiment, "dir", None)
            if run_files and not getattr(lg.experiment, "disabled", False):
                # the YAML itself too, uploaded with the run: `vadbench fit --config <it>` repeats the run
                (Path(run_files) / "vadbench_config.yaml").write_text(text, encoding="utf-8")


def _downsample(*arrays, n: int = CURVE_POINTS):
    import numpy as np

    size = len(arrays[0])
    if size <= n:
        return arrays
    idx = np.unique(np.linspace(0, size - 1, n).round().astype(int))
    return tuple(a[idx] for a in arrays)


def curve_tables(frame_scores, frame_labels) -> dict[str, Any]:
    """Frame-level ROC and PR curves as `wandb.plot` charts (the preset `wandb.plot.roc_curve` uses)."""
    import numpy as np
    import wandb
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    scores, labels = np.asarray(frame_scores, dtype=np.float64), np.asarray(frame_labels).astype(int)
    if labels.size == 0 or labels.min() == labels.max():
        return {}
    fpr, tpr, _ = roc_curve(labels, scores)
    prec, rec, _ = precision_recall_curve(labels, scores)
    roc_auc, ap = auc(fpr, tpr), average_precision_score(labels, scores)
    fpr, tpr = _downsample(fpr, tpr)
    rec, prec = _downsample(rec[::-1], prec[::-1])
    roc = wandb.Table(columns=["class", "fpr", "tpr"],
                      data=[[f"anomalous (AUC {100 * roc_auc:.2f}%)", float(x), float(y)] for x, y in zip(fpr, tpr)])
    pr = wandb.Table(columns=["class", "recall", "precision"],
                     data=[[f"anomalous (AP {100 * ap:.2f}%)", float(x), float(y)] for x, y in zip(rec, prec)])
    return {
        "test/roc_curve": wandb.plot_table("wandb/area-under-curve/v0", roc, {"x": "fpr", "y": "tpr", "class": "class"},
                                           {"title": "ROC (frame level)", "x-axis-title": "false positive rate",
                                            "y-axis-title": "true positive rate"}),
        "test/pr_curve": wandb.plot_table("wandb/area-under-curve/v0", pr,
                                          {"x": "recall", "y": "precision", "class": "class"},
                                          {"title": "precision-recall (frame level)", "x-axis-title": "recall",
                                           "y-axis-title": "precision"}),
    }


def wandb_run_info(trainer) -> dict | None:
    """{id, path, name, group, project, mode, dir} of the trainer's (first) wandb run, for the result JSON."""
    loggers = [lg for lg in _wandb_loggers(trainer) if lg._experiment is not None]
    if not loggers:
        return None
    run = loggers[0].experiment
    if getattr(run, "disabled", False) or not getattr(run, "id", None):
        return None
    mode = "offline" if run.settings._offline else "online"
    return {"id": run.id, "path": "/".join(str(p) for p in (run.entity, run.project, run.id) if p),
            "name": run.name, "group": run.group, "project": run.project, "mode": mode,
            "dir": str(Path(run.dir).parent.resolve()), "url": getattr(run, "url", None) if mode == "online" else None}


def log_test_result(trainer, record: dict, result_path: str | Path, scores_path: str | Path | None,
                    ckpt_path: str | None) -> None:
    """After a test: summary values, ROC/PR charts, result JSON + scores + checkpoint artifacts."""
    loggers = [lg for lg in _wandb_loggers(trainer) if lg._experiment is not None]
    if not loggers:
        return
    import wandb

    for lg in loggers:
        run = lg.experiment
        if getattr(run, "disabled", False):
            continue
        for name, value in (record.get("metrics") or {}).items():
            run.summary[f"test/{name}"] = value
        run.summary["vadbench/data_fingerprint"] = record.get("data_fingerprint")
        run.summary["vadbench/model_selection"] = record.get("model_selection")
        want_scores = getattr(lg, "log_scores", True)
        if want_scores and scores_path and Path(scores_path).is_file():
            from vadbench.leaderboard.scores import load_scores

            charts = curve_tables(*load_scores(scores_path).frames())
            if charts:
                run.log(charts)
        stem = f"{record.get('model')}-{record.get('dataset')}-{record.get('setting', 'default')}".replace("/", "_")
        result = wandb.Artifact(f"result-{stem}", type="result",
                                metadata={"metrics": record.get("metrics"), "seed": record.get("seed"),
                                          "data_fingerprint": record.get("data_fingerprint")})
        result.add_file(str(result_path), name="result.json", policy="immutable")  # no staging copy
        if want_scores and scores_path and Path(scores_path).is_file():
            result.add_file(str(scores_path), name="scores.npz", policy="immutable")
        run.log_artifact(result)
        if getattr(lg, "log_checkpoint", True) and ckpt_path and Path(ckpt_path).is_file():
            model = wandb.Artifact(f"model-{stem}", type="model", metadata={"ckpt_path": str(ckpt_path)})
            model.add_file(str(ckpt_path), name=Path(ckpt_path).name, policy="immutable")  # GBs: never copied
            run.log_artifact(model)


def finish_runs() -> None:
    """Close the active wandb run (each CLI call is one run; the next call must not reuse it)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
