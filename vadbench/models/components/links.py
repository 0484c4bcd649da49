"""Data -> model values written once (LightningCLI `link_arguments`), shared by the MIL and few-shot models.

Each model family declares its links as `(source, target)` pairs of config keys (`MIL_LINKS` in
`models/mil_base.py`, `FEWSHOT_LINKS` in `models/fewshot_base.py`). In subclass mode jsonargparse
skips a link whose source or target the chosen classes lack, so every model/data pair stays valid.
"""

from __future__ import annotations

from typing import Iterable

from torch import nn

MODEL_PREFIX = "model.init_args."


def add_links(parser, links: Iterable[tuple[str, str]]) -> None:
    """Add the `(source, target)` links to a LightningCLI parser (applied on parse)."""
    for source, target in links:
        parser.link_arguments(source, target)


def record_linked_values(hparams: dict, net: nn.Module, links: Iterable[tuple[str, str]]) -> None:
    """Write each linked value the net was built with (`net.<leaf name>`) into a CLI-given `hparams`.

    LightningCLI saves a CLI-built module's config as its hyper-parameters, but its dump drops link
    targets inside a nested class_path (`net.init_args.feature_dim`, jsonargparse 4.53), so
    `load_from_checkpoint` would rebuild the net at its defaults. A Python-built module's `hparams`
    hold no config dict there, and are left as they are.
    """
    for _, target in links:
        *path, leaf = target.removeprefix(MODEL_PREFIX).split(".")
        node = hparams
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and hasattr(net, leaf):
            value = getattr(net, leaf)
            node[leaf] = list(value) if isinstance(value, (list, tuple)) else value
