"""Estimators, evaluation on held-out time, MLflow logging and promotion."""

import os

from threadpoolctl import threadpool_limits

# One BLAS thread in any process that trains, unless the user chose otherwise: idle OpenBLAS
# threads spin on the cores that LightGBM's and implicit's own threads need. The variable
# reaches the BLAS libraries that load from now on (and subprocesses); the limit, those a
# notebook loaded already. Without either, notebook 02 took 398 s instead of about 90.
if "OPENBLAS_NUM_THREADS" not in os.environ:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    threadpool_limits(1, "blas")
