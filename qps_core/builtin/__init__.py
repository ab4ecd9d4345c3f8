"""Adapters that ship inside qps-core."""
