"""Shared core of the pipeline: config validation, stable/atomic I/O, manifests, model location, text basics.

Stages (prep/, train/, eval/) import from here and never from each other.
"""
