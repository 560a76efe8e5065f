"""easynlu's version: one line, imported by the package root, the CLI and saved pipelines' manifests."""

__version__ = "0.1.0"
