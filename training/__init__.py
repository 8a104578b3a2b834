"""Estimators, evaluation on held-out time, MLflow logging and promotion."""

from features import numerics

numerics.configure()  # before numpy loads: one BLAS thread, the same results on every machine
