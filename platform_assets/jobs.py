"""A job that Dagster can rebuild in another process (the multiprocess executor needs one).

Child processes rebuild it from the environment (`TRIBUTARY_CATALOG`, `TRIBUTARY_WAREHOUSE`,
`TRIBUTARY_ROOT`), which they inherit from the process that launched the run.
"""

from __future__ import annotations

from dagster import JobDefinition

from platform_assets.platform import INGEST_JOB, build_definitions, load_platform_catalog


def all_assets_job() -> JobDefinition:
    return build_definitions(load_platform_catalog()).resolve_job_def(INGEST_JOB)
