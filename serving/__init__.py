"""The BentoML service: loads the registered champion models and answers HTTP.

This package never imports ``training``: the two meet only through the MLflow registry.
"""

from features import numerics

# Before numpy loads: one BLAS thread per worker (a request's small products gain nothing from
# more, and the workers already have a core each), and the kernels training used.
numerics.configure()
