"""Experiments: absl entry points, data, models, training and workdir outputs."""
