from vadbench.metrics.frame_level import FrameAnomalyMetrics, frame_level_metrics
from vadbench.metrics.episodic import EpisodeAccuracy, mean_confidence_interval

__all__ = ["FrameAnomalyMetrics", "frame_level_metrics", "EpisodeAccuracy", "mean_confidence_interval"]
