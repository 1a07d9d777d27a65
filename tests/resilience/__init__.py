"""Helpers for the resilience tests: CLI runner, seeded fault scheduler, secret scanner."""
