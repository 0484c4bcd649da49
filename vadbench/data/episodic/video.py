"""Reading a few frames of a raw video with PyAV, by seeking (never decoding the whole file).

`VideoReader(path)` opens the file once, tells the frame count and rate, and `read(indices)` returns
the requested frames as a uint8 array `(T, H, W, 3)`, resized on decode (swscale) so that the frame
height is `height` (aspect ratio kept). Indices are 0-based display-order frame numbers; for each
index the reader seeks to the key frame before it and decodes forward to the frame, or simply keeps
decoding when the next wanted frame is close.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vadbench.errors import VadbenchError


class VideoReadError(VadbenchError, RuntimeError):
    """A video file that is missing, unreadable or holds no video stream."""


# Decode forward instead of seeking when the next frame is at most this many frames ahead.
_SEEK_GAP = 48


class VideoReader:
    """An open video: `num_frames`, `fps`, and `read(indices, height)`.

    Args:
        path: the video file.
    Raises:
        VideoReadError naming the file when it cannot be opened or has no video stream.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as err:
            raise VideoReadError(f"video {self.path}: cannot be opened by PyAV ({err})") from err
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"video {self.path}: holds no video stream")
        self._stream = self._container.streams.video[0]
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(25)
        self.fps = float(rate)
        self._time_base = self._stream.time_base or Fraction(1, 1_000_000)
        self._start_pts = self._stream.start_time or 0
        frames = int(self._stream.frames or 0)
        if frames <= 0:  # containers without a frame count (webm, some mkv): estimate from duration
            if self._stream.duration is not None:
                seconds = float(self._stream.duration * self._time_base)
            elif self._container.duration is not None:
                seconds = self._container.duration / av.time_base
            else:
                seconds = 0.0
            frames = int(round(seconds * self.fps))
        if frames <= 0:
            self._container.close()
            raise VideoReadError(f"video {self.path}: reports no frames (duration unknown)")
        self.num_frames = frames

    # ------------------------------------------------------------------ helpers
    def _index_of(self, frame: av.VideoFrame) -> int:
        pts = frame.pts if frame.pts is not None else self._start_pts
        return int(round(float((pts - self._start_pts) * self._time_base) * self.fps))

    def _seek(self, index: int) -> None:
        target = self._start_pts + int(index / self.fps / self._time_base)
        self._container.seek(max(target, self._start_pts), stream=self._stream, backward=True, any_frame=False)

    @staticmethod
    def _size(frame: av.VideoFrame, height: int | None, min_width: int | None) -> tuple[int, int]:
        if height is None:
            return frame.width, frame.height
        width = max(1, int(round(frame.width * height / frame.height)))
        if min_width is not None and width < min_width:  # portrait video: grow until the crop fits
            height = int(np.ceil(height * min_width / width))
            width = min_width
        return width + (width % 2), height  # swscale prefers even sizes

    def read(self, indices, height: int | None = None, min_width: int | None = None) -> np.ndarray:
        """Frames at `indices` (any order, repeats allowed) as uint8 `(T, H, W, 3)`, height `height`.

        An index past the real end of the stream (frame counts in headers can be over-estimates)
        gets the last decodable frame.
        """
        pending = sorted({int(i) for i in indices})
        if not pending:
            raise ValueError(f"video {self.path}: no frame indices requested")
        out: dict[int, np.ndarray] = {}
        last: np.ndarray | None = None
        position: int | None = None  # index of the last decoded frame
        frames = None
        try:
            while pending:
                target = pending[0]
                if frames is None or position is None or target <= position or target - position > _SEEK_GAP:
                    self._seek(target)
                    frames = self._container.decode(self._stream)
                frame = next(frames, None)
                while frame is not None and self._index_of(frame) < target:
                    frame = next(frames, None)
                if frame is None:  # end of stream before `target`
                    if last is None:
                        last = self._last_frame(height, min_width)
                    out.update({i: last for i in pending})
                    break
                position = self._index_of(frame)
                width, h = self._size(frame, height, min_width)
                last = frame.to_ndarray(format="rgb24", width=width, height=h)
                while pending and pending[0] <= position:
                    out[pending.pop(0)] = last
        except av.FFmpegError as err:
            raise VideoReadError(f"video {self.path}: decoding failed ({err})") from err
        return np.stack([out[int(i)] for i in indices])

    def _last_frame(self, height: int | None, min_width: int | None) -> np.ndarray:
        """The last decodable frame (seek a few seconds before the reported end, decode to the end)."""
        self._seek(max(0, self.num_frames - int(4 * self.fps) - 1))
        frame = None
        for frame in self._container.decode(self._stream):
            pass
        if frame is None:
            raise VideoReadError(f"video {self.path}: no frame could be decoded (header says {self.num_frames} frames)")
        width, h = self._size(frame, height, min_width)
        return frame.to_ndarray(format="rgb24", width=width, height=h)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
