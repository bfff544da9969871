"""simmodel: an agent-based model of SME intelligent transformation in Zhejiang, 2013 on.

    from simmodel import TransformationModel
    model = TransformationModel.from_scenario("baseline", seed=1, scale=0.05)   # the calibrated baseline
    model.run()

Layers: ``simmodel.model`` (the model and its submodels), ``simmodel.runs`` (running and storing),
``simmodel.analysis`` (scenarios, comparisons, sweeps, calibration, figures), and the front doors
``simmodel.cli`` and ``simmodel.viz``.
"""

from .analysis.scenarios import load as load_scenario
from .model import TransformationModel
from .params import ParamError, Params

__version__ = "0.1.0"
__all__ = ["TransformationModel", "Params", "ParamError", "load_scenario", "__version__"]
