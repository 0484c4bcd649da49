"""Feature extraction from raw videos (`vadbench extract`): I3D clip features and SSRL patch cubes.

    from vadbench.features import ExtractionConfig, discover_videos, extract
    report = extract(ExtractionConfig(backbone="tiny3d"), discover_videos("videos/"), "features/")
"""

from vadbench.features.backbones import BACKBONES, Backbone, WeightsError, build_backbone
from vadbench.features.outputs import ExtractionConfig, is_finished
from vadbench.features.pipeline import ExtractionReport, FeatureExtractor, extract
from vadbench.features.video_io import DecodeError, VideoSource, discover_videos, iter_frames

__all__ = ["BACKBONES", "Backbone", "WeightsError", "build_backbone", "ExtractionConfig", "is_finished",
           "ExtractionReport", "FeatureExtractor", "extract", "DecodeError", "VideoSource", "discover_videos",
           "iter_frames"]
