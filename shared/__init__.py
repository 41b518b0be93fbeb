"""The migration engine as a plain library (the CLI and the Function App both drive it)."""

#: the tool version a report names; the same as pyproject.toml's
__version__ = "0.1.0"
