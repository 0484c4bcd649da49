from vadbench.data.mil.batch import MILBatch
from vadbench.data.mil.datamodule import MILFeatureDataModule

__all__ = ["MILBatch", "MILFeatureDataModule"]
