"""Shared steps of the experiments: data, training, trained networks, features, classifiers."""
