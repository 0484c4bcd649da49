from vadbench.models.msip.lightning_model import MSIP
from vadbench.models.msip.torch_model import MPSR, HierarchicalGraphConv, MSIPModel, cell_overlap, grid_adjacency

__all__ = ["MSIP", "MSIPModel", "MPSR", "HierarchicalGraphConv", "cell_overlap", "grid_adjacency"]
