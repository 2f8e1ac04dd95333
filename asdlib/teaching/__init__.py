"""Floor 6, teaching: the solutions of the notebooks' exercises and every figure.

Modules: ``exercises`` (solutions, checked by tests/test_exercises.py), ``plots`` (the figures of
the paper and of the notebooks). Imports any floor below it. Explained in every notebook.
"""
