"""The test suite: one module per module of the project, named after it."""
