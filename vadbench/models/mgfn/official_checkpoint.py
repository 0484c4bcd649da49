"""The official MGFN state_dict (carolchenyx/MGFN. 98e9389, `models/mgfn.py::mgfn`) in `MGFNModel` names.

The key map the golden tests prove (tests/golden/test_mgfn_golden.py loads the formula weights
through it) and `vadbench test --ckpt_path <authors' .pkl>` uses (`MGFN.convert_official_state_dict`).
The official LayerNorm parameters `g`, `b` have shape (1, C, 1); ours (C,).
"""

from __future__ import annotations

import re

import torch

# official module path -> ours (regular expressions on the module part of a key, applied in order)
_MODULES = (
    (r"to_tokens", "amplifier.to_tokens"),
    (r"to_mag", "amplifier.to_magnitude"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.0", r"stages.\1.blocks.\2.shortcut"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.1\.norm", r"stages.\1.blocks.\2.mixer.norm"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.1\.to_qkv", r"stages.\1.blocks.\2.mixer.qkv"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.1\.to_v", r"stages.\1.blocks.\2.mixer.value"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.1\.rel_pos", r"stages.\1.blocks.\2.mixer.local"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.1\.to_out", r"stages.\1.blocks.\2.mixer.out"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.2\.0", r"stages.\1.blocks.\2.ffn.norm"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.2\.1", r"stages.\1.blocks.\2.ffn.expand"),
    (r"stages\.(\d+)\.0\.layers\.(\d+)\.2\.4", r"stages.\1.blocks.\2.ffn.project"),
    (r"stages\.(\d+)\.1\.0", r"stages.\1.transition.0"),
    (r"stages\.(\d+)\.1\.1", r"stages.\1.transition.1"),
    (r"to_logits\.0", "head_norm"),
    (r"fc", "classifier"),
)
_LEAVES = {"g": "weight", "b": "bias"}   # the official channel LayerNorm's parameters


def official_key(key: str) -> str | None:
    """Our name for an official state_dict key, or None when the key is not an MGFN key."""
    module, leaf = key.rsplit(".", 1)
    for pattern, ours in _MODULES:
        if re.fullmatch(pattern, module):
            return f"{re.sub(pattern, ours, module)}.{_LEAVES.get(leaf, leaf)}"
    return None


def official_to_vadbench(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(our state dict, official keys with no counterpart). LayerNorm gains/biases are flattened."""
    ours, unknown = {}, []
    for key, value in state.items():
        name = official_key(key)
        if name is None:
            unknown.append(key)
            continue
        if key.rsplit(".", 1)[1] in _LEAVES:
            value = value.reshape(-1)
        ours[name] = value
    return ours, unknown
