"""The BentoML service: loads the registered champion models and answers HTTP.

This package never imports ``training``: the two meet only through the MLflow registry.
"""

import os

from threadpoolctl import threadpool_limits

# One BLAS thread per worker unless the user chose otherwise: a request's small products gain
# nothing from more, and the workers already have a core each (training/__init__.py says why
# spinning BLAS threads hurt).
if "OPENBLAS_NUM_THREADS" not in os.environ:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    threadpool_limits(1, "blas")
