"""Estimators, evaluation on held-out time, MLflow logging and promotion.

Importing it changes no process setting: the ``shelfwise`` entry point
(:mod:`training.__main__`) does, before numpy loads.
"""
