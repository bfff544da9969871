"""Analysis: scenarios, comparisons and replications, sweeps, calibration and figures."""
