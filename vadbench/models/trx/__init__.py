"""TRX (Perrett et al., CVPR 2021): temporal-relational cross-transformers for few-shot action recognition."""

from vadbench.models.fewshot_base import EmbeddingCache, FewShotModule
from vadbench.models.trx.lightning_model import TRX
from vadbench.models.trx.loss import trx_loss
from vadbench.models.trx.torch_model import TemporalCrossTransformer, TRXModel, build_resnet

__all__ = ["EmbeddingCache", "FewShotModule", "TRX", "TRXModel", "TemporalCrossTransformer", "build_resnet", "trx_loss"]
