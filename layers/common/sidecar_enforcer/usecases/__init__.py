"""One use case per module: enforce a service, enforce a task definition, verify a deployment,
release a quarantine, drain the outbox; and triage, which answers the events that ask for nothing.
Each gathers facts through the adapters, asks the domain to decide, applies what it decided and
hands every finding to the reporter."""
