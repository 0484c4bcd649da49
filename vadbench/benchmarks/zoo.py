"""Every discovered model built from its synthetic experiment, for `vadbench bench gpu` and the
device-placement and mixed-precision tests (no list of models: `vadbench.models.discovery`).

`build(model, tiny=True)` builds `configs/<model>/synthetic.yaml` (MIL) or `synthetic_5w1s.yaml`
(few-shot) through the CLI as a user's run would, with `tiny` data sizes on top (a handful of
short videos, 2-way 1-shot episodes with one query). The tiny sizes are options of the shared
datamodules, so a new model needs nothing here; a model whose synthetic experiment is missing or
does not build fails, naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vadbench.models.discovery import ModelFolder, lightning_modules, model_folder_of, synthetic_experiment
from vadbench.paths import load_config

MIL_DATA = "vadbench.data.mil.MILFeatureDataModule"
FEWSHOT_DATA = "vadbench.data.episodic.EpisodicVideoDataModule"
# tiny synthetic sets: 2 + 2 training and test videos of 6-10 snippets, batches of 2 + 2 (test: 2 videos,
# so padding and masks are exercised); 2-way 1-shot episodes, one query a class, 4 frames a video, 2 videos a class
TINY_MIL = {"train_normal": 2, "train_abnormal": 2, "test_normal": 2, "test_abnormal": 2, "min_snippets": 6,
            "max_snippets": 10}
TINY_VIDEO = {"videos_per_class": 2, "train_classes": 2, "val_classes": 1, "test_classes": 2, "ucf_classes": 2}


@dataclass
class BuiltModel:
    """A model and its data, built from the model's synthetic experiment (nothing run yet)."""

    name: str            # model id (folder name)
    config: Path         # the synthetic experiment
    module: object       # the LightningModule
    datamodule: object
    trainer: object      # the experiment's Trainer (its accumulation and clipping)
    overrides: list[str]

    @property
    def kind(self) -> str:
        """`mil` (snippet features, frame AUC) or `fewshot` (episodes, accuracy)."""
        return "fewshot" if hasattr(self.datamodule, "way") else "mil"


def discovered_models() -> dict[str, type]:
    """{model id: LightningModule class} of every discovered model."""
    return {model_folder_of(cls).name: cls for cls in lightning_modules().values()}


def tiny_data_overrides(config: Path | str) -> list[str]:
    """Command-line overrides that shrink a synthetic experiment's data to test size."""
    data = load_config(config).get("data") or {}
    cls, args = data.get("class_path"), data.get("init_args") or {}
    if cls == MIL_DATA:
        synthetic = {**(args.get("synthetic") or {}), **TINY_MIL}
        return [f"--data.init_args.synthetic={json.dumps(synthetic)}", "--data.init_args.batch_size=2",
                "--data.init_args.test_batch_size=2"]
    if cls == FEWSHOT_DATA:
        synthetic = {**(args.get("synthetic") or {}), **TINY_VIDEO}
        return [f"--data.init_args.synthetic={json.dumps(synthetic)}", "--data.init_args.way=2",
                "--data.init_args.shot=1", "--data.init_args.train_query=1", "--data.init_args.test_query=1",
                "--data.init_args.seq_len=4",
                "--data.init_args.train_episodes=2", "--data.init_args.test_episodes=2",
                "--data.init_args.num_workers=0"]
    raise ValueError(f"{config}: no tiny sizes for data class {cls!r} (known: {MIL_DATA}, {FEWSHOT_DATA}); "
                     f"add them to vadbench/benchmarks/zoo.py")


def build(model: str | ModelFolder, tiny: bool = True, overrides: list[str] | None = None) -> BuiltModel:
    """Model `model` (an id or folder) and its datamodule from its synthetic experiment."""
    classes = discovered_models()
    name = model if isinstance(model, str) else model.name
    if name not in classes:
        raise LookupError(f"no discovered model {name!r}; discovered: {sorted(classes)}")
    cls = classes[name]
    config = synthetic_experiment(model_folder_of(cls))
    extra = (tiny_data_overrides(config) if tiny else []) + list(overrides or [])
    cli = build_experiment(config, extra)
    if not isinstance(cli.model, cls):
        raise TypeError(f"{config} builds {type(cli.model).__name__}, not model {name!r}'s {cls.__name__}")
    return BuiltModel(name, config, cli.model, cli.datamodule, cli.trainer, extra)


def build_experiment(config: Path | str, overrides: list[str]):
    """The VadbenchCLI of one experiment config, instantiated, nothing run, nothing read."""
    from vadbench.commands.complexity import build_cli

    return build_cli([str(config)], list(overrides) + ["--trainer.enable_progress_bar=false"])


# the real-data experiment whose batch, shapes and iterations stand for a MIL model's published run
PUBLISHED_DATASETS = ("ucf_crime", "xd_violence", "shanghaitech", "ucsd_ped2")


def published_experiment(name: str) -> Path | None:
    """`<model>/ucf_crime.yaml` (else XD-Violence, ShanghaiTech, UCSD Ped2) beside the synthetic one, or None."""
    synthetic = synthetic_experiment(model_folder_of(discovered_models()[name]))
    for dataset in PUBLISHED_DATASETS:
        path = synthetic.parent / f"{dataset}.yaml"
        if path.is_file():
            return path
    return None


def first_train_batch(datamodule):
    """The first training batch (MIL: a balanced batch; few-shot: an episode with frames)."""
    datamodule.prepare_data()
    datamodule.setup("fit")
    return next(iter(datamodule.train_dataloader()))


def evaluation_batches(datamodule, frames: bool = True) -> list:
    """Every test batch (few-shot: with frames, or video ids only as under the embedding cache)."""
    datamodule.prepare_data()
    datamodule.setup("test")
    if hasattr(datamodule, "test_frames_in_batch"):
        datamodule.test_frames_in_batch = frames
    return list(datamodule.test_dataloader())
