"""vadbench: a Lightning benchmark suite for video anomaly detection and few-shot anomalous action recognition."""

__version__ = "0.1.0"
