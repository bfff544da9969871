"""simmodel: an agent-based model of SME intelligent transformation in Zhejiang, 2013 on.

    from simmodel import TransformationModel
    model = TransformationModel.from_scenario("baseline", seed=1, scale=0.05)   # the calibrated baseline
    model.run()

Layers: ``simmodel.model`` (the model and its submodels), ``simmodel.runs`` (running and storing),
``simmodel.analysis`` (scenarios, comparisons, sweeps, calibration, figures), and the front doors
``simmodel.cli`` and ``simmodel.viz``.
"""

import os

# numba would use Intel's SVML for loops of exp and log if it found it, which round otherwise than the C library
# (model/libm.py): off, before numba is first imported
os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")

from . import _kernel_cache  # noqa: E402

_kernel_cache.install()  # the kernels' cache follows every model source (_kernel_cache.py), before any is compiled

from .analysis.scenarios import load as load_scenario  # noqa: E402
from .model import TransformationModel  # noqa: E402
from .params import ParamError, Params  # noqa: E402

__version__ = "0.1.0"
__all__ = ["TransformationModel", "Params", "ParamError", "load_scenario", "__version__"]
