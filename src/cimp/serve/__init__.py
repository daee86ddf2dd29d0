"""`cimp serve`: a local, read-only web explorer of a dataset (and a run's view of it)."""
