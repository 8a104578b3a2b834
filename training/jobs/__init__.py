"""Training jobs: fit on data before ``as_of``, evaluate after it, log, register, promote.

``recs`` trains the recommenders, ``customers`` the churn and CLTV models, and ``promotion``
decides which version serves. The jobs the command line runs are importable from here.
"""

from training.jobs.customers import train_customer_model
from training.jobs.promotion import PRIMARY_METRIC, TrainResult, apply_decision
from training.jobs.recs import train_recs

__all__ = ["PRIMARY_METRIC", "TrainResult", "apply_decision", "train_customer_model", "train_recs"]
