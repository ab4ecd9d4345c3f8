"""The admin page (`/admin`) and the settings/sources API (docs/design.md §8)."""
