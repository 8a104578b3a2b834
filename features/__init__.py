"""Data contract, loaders and point-in-time feature builders.

This package imports neither ``training`` nor ``serving``.
"""
