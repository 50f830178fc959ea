"""Baselines for the dark-matter challenge: torch models, a classical and a physics reference."""
