"""QPS: the Quilt Packaging Service core. Importing it loads nothing else (docs/design.md §1)."""

__version__ = "0.1.0"
