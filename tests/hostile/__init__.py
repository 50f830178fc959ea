"""The reliability tests' hostile-input corpus and their live-server harness (not test modules)."""
