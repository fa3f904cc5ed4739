"""Workflows that combine training, prediction and QC (e.g. fine-tuning from corrections)."""
