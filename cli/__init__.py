"""Local mode: the operator's command line, the second entry point beside ``function_app.py``."""
