"""Evaluation: retrieval and label metrics, evaluation protocols, plots."""
