"""The BentoML service: loads the registered champion models and answers HTTP.

This package never imports ``training``: the two meet only through the MLflow registry.
Importing it changes no process setting: its entry points (``python -m serving`` and the
service module BentoML's workers load) do, before numpy loads.
"""
