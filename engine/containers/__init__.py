"""Containers: the pure model, the state store, the manager that runs them, logs, restart and health."""
