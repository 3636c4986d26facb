"""Benchmarks (see README.md); a package so that `celery -A benchmarks.bare_celery` can import its app."""
