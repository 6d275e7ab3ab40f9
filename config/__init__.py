"""Porth's settings and defaults: the only reader of the environment."""
