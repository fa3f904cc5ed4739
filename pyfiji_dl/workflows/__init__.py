"""Workflows that combine training, prediction and QC: fine-tuning from corrections, automatic labels for a folder (with its label QC)."""
