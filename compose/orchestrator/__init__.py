"""Turns a loaded compose project into engine API calls: naming, labels, convergence planning,
container-create bodies (all pure), and the trio executor that acts on a plan."""
