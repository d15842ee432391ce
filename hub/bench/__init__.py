"""``seva bench``: benchmarks that print human-readable lines and, last, one JSON object."""
