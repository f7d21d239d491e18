"""sidecar-enforcer: keep a tracing sidecar on every opted-in Amazon ECS service."""

__version__ = "0.1.0"
ENFORCER_NAME = "sidecar-enforcer"
