"""Checks of our model code against published results (run by tests and by humans)."""
