"""Worker Deployment Versioning from the environment: which build a worker is, and how its cases
are pinned to it.

A case lasts days or weeks, so a case stays on the build it started on (PINNED): a release that
changes workflow code incompatibly never meets a case in flight. The new build becomes current
with `temporal worker deployment set-current-version` once a replay check of the open cases has
passed (deploy/README.md); new cases then start on it, and the old build's workers run until
its last pinned case ends. Without CONFIDE_BUILD_ID (the dev stack, tests) workers are
unversioned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from infra.settings import MissingSetting

DEFAULT_DEPLOYMENT = "confide"


def deployment_config(env: Mapping[str, str] = os.environ) -> WorkerDeploymentConfig | None:
    """The worker's deployment version (CONFIDE_DEPLOYMENT_NAME, default "confide", and
    CONFIDE_BUILD_ID), every workflow pinned by default; None when no build id is set."""
    build_id = env.get("CONFIDE_BUILD_ID", "").strip()
    if not build_id:
        return None
    name = env.get("CONFIDE_DEPLOYMENT_NAME", "").strip() or DEFAULT_DEPLOYMENT
    # The server names a version "<name>:<build id>": a colon in the name would be ambiguous.
    if ":" in name:
        raise MissingSetting(f"CONFIDE_DEPLOYMENT_NAME must not contain ':' (it is {name!r}).")
    if len(build_id) > 255:
        raise MissingSetting("CONFIDE_BUILD_ID must be at most 255 characters.")
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )
