"""QPS: the Quilt Packaging Service core."""

from .packaging.quilt import defer as _defer_quilt3_admin

__version__ = "0.1.0"

_defer_quilt3_admin()  # quilt3's admin/GraphQL modules load only if used (cold start, docs/design.md §6)
