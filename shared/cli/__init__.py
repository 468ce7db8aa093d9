"""The ``bff`` command line and the tooling only it and the tests use: the local stack,
the loopback servers the stand-ins run on, rollouts through a local gateway, the PII
report and the OpenAPI diff. No serving process imports anything here
(tests/shared/test_serving_imports.py holds that). The commands: ``shared.cli.app``."""

from shared.cli.app import main

__all__ = ["main"]
