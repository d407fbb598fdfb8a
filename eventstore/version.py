"""The library's version: recorded with every run (``runs.library_version``) and read by the
package build (``pyproject.toml``), so it is written in one place."""

__version__ = "0.1.0"
