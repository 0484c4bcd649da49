"""Verbs of `vadbench` that are not Trainer methods: one module per verb, each with `main(argv) -> int`."""
