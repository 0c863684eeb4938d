"""Tasks that live outside s2s, found by a dotted `config.task.name` (`toy_tasks.reverse`).

tests/ must be on the import path (PYTHONPATH=<repo>/tests:<repo> for subprocesses).
"""
