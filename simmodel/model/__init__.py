"""The model and its mechanisms: TransformationModel (model.py) and one module per submodel of
docs/ODD.md section 3.4; institutions are Mesa agents (institutions/)."""

from .model import STREAMS, TransformationModel

__all__ = ["TransformationModel", "STREAMS"]
