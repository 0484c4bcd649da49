"""SloshNet (Xing et al., AAAI 2023): multi-level feature fusion and short/long-term temporal modelling before
TRX's cross-transformers, for few-shot action recognition."""

from vadbench.models.sloshnet.lightning_model import SloshNet
from vadbench.models.sloshnet.loss import SloshNetLoss
from vadbench.models.sloshnet.optim import SGDWithArchitectureAdam, SloshNetOfficialLR
from vadbench.models.sloshnet.torch_model import (FeatureFusionCell, LongTermTemporal, ShortTermMotion, SloshNetModel,
                                                  SpatialModulation)

__all__ = ["FeatureFusionCell", "LongTermTemporal", "SGDWithArchitectureAdam", "ShortTermMotion", "SloshNet",
           "SloshNetLoss", "SloshNetModel", "SloshNetOfficialLR", "SpatialModulation"]
