"""The BentoML service: loads the registered champion models and answers HTTP.

This package never imports ``training``: the two meet only through the MLflow registry.
"""
