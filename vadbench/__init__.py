"""vadbench: a Lightning benchmark suite for video anomaly detection and few-shot anomalous action recognition."""

__version__ = "0.1.0"


def _extra_model_dirs_on_path() -> None:
    """Model folders named in $VADBENCH_MODEL_DIRS import by their folder name (see vadbench.models.discovery);
    a folder that does not exist is reported by discovery, not here."""
    import os
    import sys

    for folder in os.environ.get("VADBENCH_MODEL_DIRS", "").split(os.pathsep):
        if folder.strip() and os.path.isdir(folder) and os.path.abspath(folder) not in sys.path:
            sys.path.insert(0, os.path.abspath(folder))


_extra_model_dirs_on_path()
