"""Lockstep: keep departments aligned on shared goals."""

__version__ = "0.1.0"
