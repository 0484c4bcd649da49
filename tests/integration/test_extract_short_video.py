"""A faststart mp4 cut in half: its moov atom still declares every frame, so extraction compares the
decoded frames with the container's count and fails that video (named; the others go on; exit 1)
unless `--accept-short`."""

from __future__ import annotations

import numpy as np
import pytest

from vadbench.commands.extract import main as extract_main
from vadbench.features.video_io import VideoSource, iter_frames

TINY = ["--backbone", "tiny3d", "--snippet-len", "8", "--resize", "40x48", "--crop-size", "32", "--crop", "center",
        "--resize-filter", "bilinear", "--batch-size", "16", "--no-progress", "--workers", "0"]


def write_faststart_mp4(path, frames: int, seed: int = 0, size=(48, 64)) -> None:
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        base = rng.integers(0, 255, (size[0], size[1], 3), dtype=np.uint8)
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(base, 3 * i, axis=1), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cut_faststart_mp4_is_named_and_fails_unless_accepted(tmp_path, capsys):
    src = tmp_path / "videos"
    src.mkdir()
    write_faststart_mp4(src / "Whole001.mp4", 64, seed=1)
    write_faststart_mp4(tmp_path / "full.mp4", 64, seed=2)
    data = (tmp_path / "full.mp4").read_bytes()
    assert data[4:8] == b"ftyp" and data.index(b"moov") < data.index(b"mdat")  # faststart: index first
    (src / "Cut001.mp4").write_bytes(data[: len(data) // 2])

    info: dict = {}
    decoded = sum(1 for _ in iter_frames(VideoSource("Cut001", src / "Cut001.mp4", "file"), info=info,
                                         accept_short=True))
    assert info["expected_frames"] == 64 and decoded < 48  # the container still declares all 64

    out = tmp_path / "out"
    rc = extract_main([str(src), str(out), *TINY])
    text = capsys.readouterr()
    assert rc == 1
    assert "Cut001" in text.out + text.err and "ends early" in text.out + text.err and "declares 64" in text.out + text.err
    assert (out / "Whole001_i3d.npy").is_file() and not (out / "Cut001_i3d.npy").exists()
    assert np.load(out / "Whole001_i3d.npy").shape[0] == 8  # 64 frames / 8

    rc = extract_main([str(src), str(out), *TINY, "--accept-short"])
    capsys.readouterr()
    assert rc == 0
    assert np.load(out / "Cut001_i3d.npy").shape[0] == -(-decoded // 8)
