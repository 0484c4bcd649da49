"""Mixed precision (`bf16-mixed`): the parts of a model that stay in float32 inside autocast.

Under autocast (Lightning's `precision: bf16-mixed`) matrix products and convolutions run in
bfloat16 (8 significant bits). That is safe for the bulk of a network, not for a few parts whose
result is a small difference of large numbers, a long sum, an exponent, or a value read at high
resolution. Those parts are float32 islands: autocast is switched off inside and bf16 inputs are
upcast (float32 and float64 inputs pass unchanged, so the float64 golden tests are unaffected):

    @in_float32                      # a whole function or forward (every loss)
    def forward(self, scores, labels): ...

    with autocast_off():             # a block
        attn = (theta.float() @ phi.float()).softmax(-1)

`docs/precision.md` lists every island and why. One of them is not optional: CUDA autocast refuses
`F.binary_cross_entropy` (on probabilities) in any precision, so losses run in float32.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools

import torch

AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps")
LOW_PRECISION = (torch.bfloat16, torch.float16)
_islands = {"on": True}   # `islands_off()` turns them into no-ops (to show what they change)


def autocast_on() -> list[str]:
    """Device types on which autocast is enabled here."""
    out = []
    for device in AUTOCAST_DEVICES:
        try:
            if torch.is_autocast_enabled(device):
                out.append(device)
        except RuntimeError:  # a device type this build does not know
            continue
    return out


@contextlib.contextmanager
def islands_off():
    """Inside: every island is a no-op (autocast stays on, nothing is upcast). For tests and benchmarks
    that show what the islands change; never for training."""
    before = _islands["on"]
    _islands["on"] = False
    try:
        yield
    finally:
        _islands["on"] = before


@contextlib.contextmanager
def autocast_off():
    """Autocast disabled on every device type where it is on (a float32 island's inside)."""
    with contextlib.ExitStack() as stack:
        for device in autocast_on() if _islands["on"] else ():
            stack.enter_context(torch.autocast(device_type=device, enabled=False))
        yield


def upcast(value):
    """bf16/fp16 tensors (also inside lists, tuples, dicts and dataclasses) -> float32; others unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in LOW_PRECISION and _islands["on"] else value
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(upcast(v) for v in value)
    if isinstance(value, dict):
        return {k: upcast(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: upcast(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    return value


def in_float32(fn):
    """Decorator: run `fn` as a float32 island (autocast off, bf16/fp16 arguments upcast)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with autocast_off():
            return fn(*upcast(args), **upcast(kwargs))
    return wrapper


def float32_call(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` as a float32 island (e.g. a scoring head: `float32_call(self.net[-2:], h)`)."""
    return in_float32(fn)(*args, **kwargs)
