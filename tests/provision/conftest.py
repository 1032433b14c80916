"""Fixtures of the provisioning tests (helpers live in provisioning.py: a unique module
name, since tests/integration has a conftest of its own)."""

from provisioning import host_agent, inputs  # noqa: F401  (fixtures)
