"""Downstream tasks: task files, tables, fine-tuning and prediction."""
