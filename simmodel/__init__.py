"""simmodel: an agent-based model of SME intelligent transformation in Zhejiang, 2013 on.

    from simmodel import TransformationModel, Params
    model = TransformationModel(seed=1, scale=0.05)
    model.run()
"""

from .model import TransformationModel
from .params import Params, ParamError

__version__ = "0.1.0"
__all__ = ["TransformationModel", "Params", "ParamError", "__version__"]
