"""The CI rule: with CI=true a skipped test is a failed test, its skip reason kept.

A skip in CI means a dependency (Docker, PostgreSQL, debootstrap) was missing, so the suite did
not test what it claims to. Expected failures (xfail) are left alone: they are not skips.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

CI_VALUES = {"true", "1", "yes"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped, and CI=true turns every skip into a failure: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    fail_skip_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    fail_skip_in_ci(report)
    return report
