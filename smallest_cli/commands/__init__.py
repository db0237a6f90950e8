"""Thin Typer command modules. Each exposes `register(app)`."""
