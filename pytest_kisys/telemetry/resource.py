"""Resource attributes: service name, ``OTEL_RESOURCE_ATTRIBUTES``, CI run and VCS facts.

Pure logic over a mapping; no subprocess (no ``git`` call), so it costs nothing measurable and
never prints to stderr. CI systems covered: GitHub Actions and GitLab CI.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_kisys._version import __version__
from pytest_kisys.telemetry.envconfig import TraceEnv


def _github(env: Mapping[str, str]) -> dict[str, str]:
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    ref = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME", "")
    attrs = {
        "cicd.pipeline.name": env.get("GITHUB_WORKFLOW", ""),
        "cicd.pipeline.run.id": run_id,
        "cicd.pipeline.run.url.full": f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else "",
        "cicd.pipeline.task.name": env.get("GITHUB_JOB", ""),
        "cicd.worker.name": env.get("RUNNER_NAME", ""),
        "vcs.repository.url.full": f"{server}/{repo}" if repo else "",
        "vcs.repository.name": repo.rpartition("/")[2],
        "vcs.ref.head.name": ref,
        "vcs.ref.head.revision": env.get("GITHUB_SHA", ""),
        "vcs.ref.head.type": "tag" if env.get("GITHUB_REF_TYPE") == "tag" else "branch",
    }
    if env.get("GITHUB_EVENT_NAME", "").startswith("pull_request"):
        attrs["vcs.ref.base.name"] = env.get("GITHUB_BASE_REF", "")
    return attrs


def _gitlab(env: Mapping[str, str]) -> dict[str, str]:
    return {
        "cicd.pipeline.name": env.get("CI_PIPELINE_NAME") or env.get("CI_PROJECT_PATH", ""),
        "cicd.pipeline.run.id": env.get("CI_PIPELINE_ID", ""),
        "cicd.pipeline.run.url.full": env.get("CI_PIPELINE_URL", ""),
        "cicd.pipeline.task.name": env.get("CI_JOB_NAME", ""),
        "cicd.pipeline.task.run.id": env.get("CI_JOB_ID", ""),
        "cicd.pipeline.task.run.url.full": env.get("CI_JOB_URL", ""),
        "cicd.worker.name": env.get("CI_RUNNER_DESCRIPTION", ""),
        "vcs.repository.url.full": env.get("CI_PROJECT_URL", ""),
        "vcs.repository.name": env.get("CI_PROJECT_NAME", ""),
        "vcs.ref.head.name": env.get("CI_COMMIT_REF_NAME", ""),
        "vcs.ref.head.revision": env.get("CI_COMMIT_SHA", ""),
        "vcs.ref.head.type": "tag" if env.get("CI_COMMIT_TAG") else "branch",
        "vcs.change.id": env.get("CI_MERGE_REQUEST_IID", ""),
    }


def ci_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """CI pipeline and VCS attributes of the current CI job (empty outside known CI systems)."""
    if env.get("GITHUB_ACTIONS") == "true":
        found = _github(env)
    elif env.get("GITLAB_CI") == "true":
        found = _gitlab(env)
    else:
        return {}
    return {key: value for key, value in found.items() if value}


def resource_attributes(trace_env: TraceEnv, env: Mapping[str, str]) -> dict[str, str]:
    """All resource attributes, lowest precedence first: SDK facts, CI, env, service name."""
    attrs = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.distro.name": "pytest-kisys",
        "telemetry.distro.version": __version__,
    }
    attrs.update(ci_attributes(env))
    attrs.update(trace_env.resource_attributes)
    attrs["service.name"] = trace_env.service_name
    return attrs
