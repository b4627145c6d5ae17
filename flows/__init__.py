"""Talon orchestration: the `talon` CLI, Prefect flows, and the plain functions they call
(extract reading, reference loading, the warehouse, the synthetic region generator).

Importing this package sets offline-safe defaults for Prefect and Great Expectations (only
where the environment does not set them already): hospital networks are often closed, and
Prefect's temporary server can take longer than its default 20 s to start on a cold machine.
"""
import os as _os

for _key, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}.items():
    _os.environ.setdefault(_key, _value)
