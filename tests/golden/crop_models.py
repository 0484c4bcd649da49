"""Checks the UR-DMU and BN-WVAD golden tests share (models scoring each crop as its own sequence)."""

from __future__ import annotations

import numpy as np
import torch

from tests.golden.official import rel_err


def check_test_path(model, tests: dict[str, torch.Tensor], arrays, tol: float) -> None:
    """Each golden test video (1, T, C, D) alone, then all of them padded into one batch with a mask,
    give the official crop-averaged scores `<name>_scores_f64`."""
    with torch.no_grad():
        for name, video in tests.items():
            assert rel_err(model(video)[0], arrays[f"{name}_scores_f64"]) < tol, name
        lengths = [v.shape[1] for v in tests.values()]
        first = next(iter(tests.values()))
        batch = first.new_zeros((len(tests), max(lengths)) + tuple(first.shape[2:]))
        for i, video in enumerate(tests.values()):
            batch[i, :video.shape[1]] = video[0]
        mask = torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]
        scores = model(batch, mask)
    for i, (name, n) in enumerate(zip(tests, lengths)):
        assert rel_err(scores[i, :n], arrays[f"{name}_scores_f64"]) < tol, f"{name} in a padded batch"


def check_gradients(model, names: dict[str, str], param_names: list[str], norms, wsums, tol: float) -> None:
    """Every parameter's gradient against the official one: its norm and its whole-tensor checksum
    sum_i g_i (i mod 97) / 97 (README of tests/golden/data)."""
    params = dict(model.named_parameters())
    for i, name in enumerate(param_names):
        grad = params[names[name]].grad
        assert rel_err(grad.norm(), norms[i]) < tol, name
        flat = grad.reshape(-1).numpy()
        wsum = float((flat * ((np.arange(flat.size) % 97) / 97)).sum())
        assert abs(wsum - wsums[i]) <= tol * max(abs(wsums[i]), 1e-3 * norms[i]), name


def check_full_gradients(model, names: dict[str, str], param_names: list[str], arrays, prefix: str, tol: float) -> int:
    """The full gradients the fixture stores (`<prefix><official name with _>_f64`); returns how many."""
    params = dict(model.named_parameters())
    checked = 0
    for name in param_names:
        key = f"{prefix}{name.replace('.', '_')}_f64"
        if key in arrays:
            assert rel_err(params[names[name]].grad, arrays[key]) < tol, name
            checked += 1
    return checked
