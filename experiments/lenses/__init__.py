"""Lenses on any trained network: pure functions of its layer list and data that return
typed results (no file I/O, no plotting)."""
