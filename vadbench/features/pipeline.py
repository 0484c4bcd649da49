"""The extraction pipeline: decode in worker processes, batch snippets across videos on the device.

    workers (torch DataLoader, one video at a time each)          main process
    PyAV / PIL decode -> resize (uint8) -> snippets -> chunks  ->  queue per input kind
                                                                   -> batches of `batch_size` clips
                                                                   -> device: crops/patches, normalise, backbone
                                                                   -> per-video buffers -> atomic .npy + sidecar

A worker streams a video as chunks of `chunk_snippets` snippets, so memory does not grow with the
video length, and the device sees full batches drawn from several videos at once. A video that
fails to decode is reported by name; the others go on.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from vadbench.features.backbones import Backbone, build_backbone
from vadbench.features.outputs import (ExtractionConfig, clean_stale_temp_files, is_finished, output_files,
                                       save_output)
from vadbench.features.transforms import CROP_VIEWS, clip_views, grid_tag, parse_size, patch_views, to_float_clips
from vadbench.features.video_io import VideoSource, iter_frames

log = logging.getLogger("vadbench.extract")


# ----------------------------------------------------------------------------- worker side
class SnippetStream(IterableDataset):
    """Yields, per video, chunks `{"video", "first", "clip", "patch"}` of uint8 snippets `(n, L, H, W, 3)`
    and a final item with `"done": True` and the frame / snippet counts (or `"error"`)."""

    def __init__(self, sources: list[VideoSource], cfg: ExtractionConfig, chunk_snippets: int = 8,
                 accept_short: bool = False, thread_type: str = "AUTO"):
        self.sources, self.cfg, self.chunk_snippets = sources, cfg, max(1, chunk_snippets)
        self.accept_short = accept_short  # False: a video that ends before its container says is an error
        self.thread_type = thread_type  # the decoder's threading (`video_io.iter_frames`)

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        for idx in range(wid, len(self.sources), nw):
            try:
                yield from self._video(idx)
            except Exception as err:  # any decode problem ends this video only
                yield {"video": idx, "error": f"{type(err).__name__}: {err}"}

    def _video(self, idx: int):
        cfg, src = self.cfg, self.sources[idx]
        length, stride = cfg.snippet_len, cfg.snippet_stride
        sizes = (parse_size(cfg.resize) if cfg.clip else None, cfg.patch_frame_size_hw if cfg.grids else None)
        in_worker = get_worker_info() is not None
        meta: dict = {}
        buffer: deque = deque()  # (clip, patch) frames, resized by the decoder, from index `base` on
        base, n_frames, emitted, pending, pack_seconds = 0, 0, 0, [], 0.0

        def snippet(start: int) -> list:  # the frames of one snippet (references, no copy)
            return [buffer[min(i, n_frames - 1) - base] for i in range(start, start + length)]

        def chunk(done: bool = False):
            nonlocal pending, pack_seconds
            tick = time.perf_counter()
            item = {"video": idx, "first": emitted - len(pending), "done": done}
            for j, kind in enumerate(("clip", "patch")):
                item[kind] = None
                if pending and pending[0][0][j] is not None:
                    frames = [f[j] for snip in pending for f in snip]
                    out = _uint8_tensor((len(frames), *frames[0].shape), shared=in_worker)
                    np.stack(frames, out=out.numpy())
                    item[kind] = out.view(len(pending), length, *frames[0].shape)
            pending = []
            pack_seconds += time.perf_counter() - tick
            return item

        for frame in iter_frames(src, cfg.fps, cfg.source_fps, meta, accept_short=self.accept_short, sizes=sizes,
                                 resize_filter=cfg.resize_filter, thread_type=self.thread_type):
            buffer.append(frame)
            n_frames += 1
            while emitted * stride + length <= n_frames:  # a full window is available
                pending.append(snippet(emitted * stride))
                emitted += 1
                while base < emitted * stride and buffer:  # frames no later snippet needs
                    buffer.popleft()
                    base += 1
                if len(pending) >= self.chunk_snippets:
                    yield chunk()
        total = cfg.num_snippets(n_frames)
        if total == 0:
            raise ValueError(f"{src.path}: {n_frames} frames, fewer than one snippet of {length} "
                             f"(use --tail pad to pad short videos)")
        while emitted < total:  # tail=pad: the last snippets repeat the last frame
            pending.append(snippet(emitted * stride))
            emitted += 1
            if len(pending) >= self.chunk_snippets and emitted < total:
                yield chunk()
        last = chunk(done=True)
        last.update(num_snippets=total, frames=n_frames, decoded_frames=meta.get("decoded_frames", n_frames),
                    source_fps=meta.get("source_fps"),
                    seconds={"decode": meta["decode_seconds"], "resize": meta["convert_seconds"],
                             "pack": pack_seconds})
        yield last


def _uint8_tensor(shape: tuple[int, ...], shared: bool) -> torch.Tensor:
    """An uninitialised uint8 tensor; `shared`: allocated in shared memory, so a worker writes its
    frames once, straight into the memory the main process maps (`share_memory_()` of a normal
    tensor would allocate and copy a second time)."""
    if not shared:
        return torch.empty(shape, dtype=torch.uint8)
    storage = torch.UntypedStorage._new_shared(int(np.prod(shape)))
    return torch.empty(0, dtype=torch.uint8).set_(storage, 0, shape)


def _worker_init(_):
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- main side
@dataclass
class ExtractionReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    snippets: int = 0
    frames: int = 0
    seconds: float = 0.0
    # where the time went: the decode side (summed over videos; in the workers, beside the main
    # process) and the main process (`wait` = blocked on the workers; with no workers it decodes)
    decode_seconds: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "resize": 0.0, "pack": 0.0})
    main_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        rate = f"{self.snippets / self.seconds:.1f} snippets/s, {self.frames / self.seconds:.1f} frames/s" \
            if self.seconds > 0 else "n/a"
        text = (f"extracted {len(self.done)} videos ({self.snippets} snippets, {self.frames} frames, "
                f"{self.seconds:.1f} s, {rate}); skipped {len(self.skipped)} already finished; "
                f"failed {len(self.failed)}")
        for name, err in self.failed.items():
            text += f"\n  FAILED {name}: {err}"
        return text


@dataclass
class _VideoState:
    source: VideoSource
    feats: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    total: int | None = None
    info: dict = field(default_factory=dict)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class FeatureExtractor:
    """Runs an `ExtractionConfig` over videos. `batch_size` counts clips (views) per forward pass."""

    def __init__(self, cfg: ExtractionConfig, device: str = "auto", batch_size: int = 40, workers: int = 0,
                 chunk_snippets: int = 8, cross_video_batching: bool = True, backbone: Backbone | None = None):
        self.cfg = cfg
        self.device = resolve_device(device)
        self.batch_size, self.workers, self.chunk_snippets = max(1, batch_size), max(0, workers), chunk_snippets
        self.cross_video_batching = cross_video_batching
        self.backbone = backbone or build_backbone(cfg.backbone, cfg.weights, cfg.seed, cfg.clip_frame_pool)
        self.model = self.backbone.module.to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self._amp = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(cfg.precision)
        self.grids = cfg.grids
        self._buffers: dict[str, torch.Tensor] = {}
        self.stage_seconds: dict[str, float] = {}  # main-process seconds per stage (crops, network, write, wait)
        self.clip_views = CROP_VIEWS[cfg.crop]
        self.patch_views = sum(r * c for r, c in self.grids)

    # ---------------------------------------------------------------- settings
    def settings(self, tag: str) -> dict:
        b = self.backbone
        return self.cfg.file_settings(tag, b.weights, b.seed, b.feature_dim)

    def outputs_of(self, out_dir: Path, name: str) -> list[tuple[str, Path, int | None]]:
        """(tag, path, crop index or None) of every file the video gets (`outputs.output_files`)."""
        return output_files(self.cfg, out_dir, name, self.clip_views)

    def finished(self, out_dir: Path, name: str) -> bool:
        return all(is_finished(path, self.settings(tag)) for tag, path, _ in self.outputs_of(out_dir, name))

    # ---------------------------------------------------------------- device work
    @torch.inference_mode()
    def _encode(self, clips: torch.Tensor) -> torch.Tensor:
        """`(N, 3, L, h, w)` float -> `(N, D)` float32, in forward passes of at most `batch_size` clips."""
        outs = []
        for i in range(0, clips.shape[0], self.batch_size):
            part = clips[i:i + self.batch_size].contiguous()
            if self._amp is not None:
                with torch.autocast(self.device.type, dtype=self._amp):
                    outs.append(self.model(part).float())
            else:
                outs.append(self.model(part))
        return torch.cat(outs)

    def _workspace(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """A contiguous float32 tensor of `shape` on the device, a view of a buffer reused from batch
        to batch (grown when a batch needs more): on a CPU, allocating the 10 crops of a 40-clip
        batch afresh (96 MB at 112 px) costs ~5x the copy that fills them, in page faults."""
        numel = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < numel:
            buf = self._buffers[name] = torch.empty(numel, dtype=torch.float32, device=self.device)
        return buf[:numel].view(shape)

    def _tick(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + now - since
        return now

    @torch.inference_mode()
    def _views_features(self, kind: str, snippets: torch.Tensor) -> dict[str, np.ndarray]:
        """uint8 `(n, L, H, W, 3)` -> {tag: float32 `(n, V, D)` on the host} for the clip views or every
        patch grid (one grid at a time, through one reused buffer: the grids' windows cover the same pixels)."""
        tick = time.perf_counter()
        n, length, h, w, c = snippets.shape
        x = to_float_clips(snippets.to(self.device, non_blocking=True), self.cfg.resolved_normalisation,
                           out=self._workspace(f"{kind}_frames", (n, c, length, h, w)))
        out = {}
        for tag, grid in ([("", None)] if kind == "clip" else [(f"_{grid_tag(g)}", g) for g in self.grids]):
            if grid is None:
                size = self.cfg.crop_size
                views = clip_views(x, self.cfg.crop, size, out=self._workspace("crops", (n, 10, c, length, size, size))
                                   if self.cfg.crop == "ten" else None)
            else:
                v = patch_views(x, grid)
                views = self._workspace("patches", tuple(v.shape)).copy_(v)
            tick = self._tick("crops", tick)
            feats = self._encode(views.reshape(n * views.shape[1], *views.shape[2:])).reshape(n, views.shape[1], -1)
            out[tag] = feats.cpu().numpy()  # on a GPU this waits for the device
            tick = self._tick("network", tick)
        return out

    def decoder_thread_type(self) -> str:
        """Threaded decoding (`AUTO`) while each worker has a spare core for its threads; one thread per
        decoder (`NONE`, less CPU per frame) once the workers and the main process fill the CPUs."""
        spare = (os.cpu_count() or 1) - 1 - self.workers
        return "AUTO" if self.workers == 0 or spare >= self.workers else "NONE"

    # ---------------------------------------------------------------- run
    def run(self, sources: list[VideoSource], out_dir: str | Path, overwrite: bool = False,
            progress: bool = True) -> ExtractionReport:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for p in clean_stale_temp_files(out_dir):
            log.info("removed a stale temp file of an interrupted run: %s", p)
        report = ExtractionReport()
        todo = []
        for src in sources:
            if not overwrite and self.finished(out_dir, src.name):
                report.skipped.append(src.name)
            else:
                todo.append(src)
        if not todo:
            return report
        todo.sort(key=lambda s: -s.size_bytes)  # longest first: workers end together
        start = time.perf_counter()
        stream = SnippetStream(todo, self.cfg, self.chunk_snippets, getattr(self, "accept_short", False),
                               self.decoder_thread_type())
        loader = DataLoader(stream, batch_size=None, num_workers=self.workers,
                            pin_memory=self.device.type == "cuda", worker_init_fn=_worker_init,
                            prefetch_factor=2 if self.workers else None,
                            persistent_workers=False)
        states: dict[int, _VideoState] = {}
        queues: dict[str, deque] = {"clip": deque(), "patch": deque()}
        per_snippet = {"clip": self.clip_views, "patch": self.patch_views}
        bar = _progress(len(todo), progress)

        def finalize_ready() -> None:
            for vid in [v for v, s in states.items() if s.total is not None and
                        all(s.counts.get(tag, 0) == s.total for tag in self.cfg.outputs())]:
                st = states.pop(vid)
                tick = time.perf_counter()
                self._save(out_dir, st)
                self._tick("write", tick)
                report.done.append(st.source.name)
                report.snippets += st.total
                report.frames += st.info["frames"]
                bar.update(1)
                elapsed = time.perf_counter() - start
                bar.set_postfix_str(f"{report.snippets / elapsed:.1f} snippets/s")

        def drain(kind: str, force: bool) -> None:
            q = queues[kind]
            if not per_snippet[kind]:
                return
            want = max(1, self.batch_size // per_snippet[kind])
            while q and (force or sum(item[2].shape[0] for item in q) >= want):
                pieces, taken = [], 0
                while q and taken < want:
                    vid, first, snips = q[0]
                    k = min(want - taken, snips.shape[0])
                    pieces.append((vid, first, snips[:k]))
                    taken += k
                    if k == snips.shape[0]:
                        q.popleft()
                    else:
                        q[0] = (vid, first + k, snips[k:])
                batch = torch.cat([p[2] for p in pieces]) if len(pieces) > 1 else pieces[0][2]
                feats = self._views_features(kind, batch)
                offset = 0
                for vid, first, snips in pieces:
                    k = snips.shape[0]
                    for tag, f in feats.items():
                        st = states[vid]
                        st.feats.setdefault(tag, []).append((first, f[offset:offset + k]))
                        st.counts[tag] = st.counts.get(tag, 0) + k
                    offset += k
            finalize_ready()

        self.stage_seconds = {"wait": 0.0, "crops": 0.0, "network": 0.0, "write": 0.0}
        try:
            items, tick = iter(loader), time.perf_counter()
            for item in items:
                tick = self._tick("wait", tick)
                vid = item["video"]
                src = todo[vid]
                if "error" in item:
                    states.pop(vid, None)
                    for q in queues.values():
                        kept = [e for e in q if e[0] != vid]
                        q.clear()
                        q.extend(kept)
                    report.failed[src.name] = item["error"]
                    log.error("video %s failed: %s", src.name, item["error"])
                    bar.update(1)
                    continue
                st = states.setdefault(vid, _VideoState(src))
                for kind in ("clip", "patch"):
                    if item[kind] is not None and item[kind].shape[0]:
                        queues[kind].append((vid, item["first"], item[kind]))
                if item["done"]:
                    st.total = item["num_snippets"]
                    st.info = {k: item[k] for k in ("frames", "decoded_frames", "source_fps")}
                    for k, v in item["seconds"].items():
                        report.decode_seconds[k] += v
                force = item["done"] and not self.cross_video_batching
                for kind in ("clip", "patch"):
                    drain(kind, force)
                tick = time.perf_counter()
            for kind in ("clip", "patch"):
                drain(kind, True)
        finally:
            bar.close()
        report.seconds = time.perf_counter() - start
        report.main_seconds = dict(self.stage_seconds)
        return report

    def _save(self, out_dir: Path, st: _VideoState) -> None:
        video = {"name": st.source.name, "source": str(st.source.path.absolute()), "source_kind": st.source.kind,
                 "snippets": st.total, **st.info}
        stacked = {}
        for tag in self.cfg.outputs():
            parts = sorted(st.feats[tag], key=lambda p: p[0])
            feats = np.concatenate([p[1] for p in parts]).astype(np.float32, copy=False)
            if feats.shape[0] != st.total or not np.isfinite(feats).all():
                raise RuntimeError(f"{st.source.name}{tag}: got features of shape {feats.shape} "
                                   f"(finite: {bool(np.isfinite(feats).all())}) for {st.total} snippets")
            stacked[tag] = feats
        files = self.outputs_of(out_dir, st.source.name)
        for tag, path, crop in sorted(files, key=lambda f: f[0] == ""):  # patch files first, the clip files last
            if crop is None:
                save_output(path, stacked[tag], self.settings(tag), video)
            else:   # per_crop: crop c's [T, D] column, <video>__<c>.npy
                save_output(path, np.ascontiguousarray(stacked[tag][:, crop]), self.settings(tag), {**video, "crop": crop})


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="video", dynamic_ncols=True)


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def extract(cfg: ExtractionConfig, sources: list[VideoSource], out_dir: str | Path, **kwargs) -> ExtractionReport:
    """One-call API: `extract(ExtractionConfig(backbone="tiny3d"), discover_videos(dir), out)`."""
    run_keys = {"overwrite", "progress"}
    run_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in run_keys}
    return FeatureExtractor(cfg, **kwargs).run(sources, out_dir, **run_kwargs)
