"""Typed models: events (triggers), profiles (sidecar documents) and findings (statuses)."""
