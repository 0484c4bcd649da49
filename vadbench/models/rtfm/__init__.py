from vadbench.models.rtfm.lightning_model import RTFM, MagnitudeMILModule
from vadbench.models.rtfm.loss import RTFMLoss
from vadbench.models.rtfm.torch_model import RTFMModel, RTFMOutput, SnippetClassifier, gather_snippets, select_topk

__all__ = ["RTFM", "MagnitudeMILModule", "RTFMLoss", "RTFMModel", "RTFMOutput", "SnippetClassifier", "gather_snippets", "select_topk"]
