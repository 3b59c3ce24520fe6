"""Workchains of aiida-superionic."""
