"""Benchmarks; each module measures one thing and can write its figures into bench/RESULTS.md."""
