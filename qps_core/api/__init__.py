"""The REST API (docs/design.md §7): `create_app(ApiContext)` in `app`. Imports FastAPI: load lazily."""
