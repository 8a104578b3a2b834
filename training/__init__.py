"""Estimators, evaluation on held-out time, MLflow logging and promotion."""
