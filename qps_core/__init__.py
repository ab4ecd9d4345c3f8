"""QPS: the Quilt Packaging Service core."""

__version__ = "0.1.0"
