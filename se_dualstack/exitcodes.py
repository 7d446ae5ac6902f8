"""Exit statuses of the suite and of the comparison, in one place so docs, CI and code agree.

The suite keeps pytest's own exit codes (CI systems and people already know them); this module
only names them and groups them into the three answers a nightly job needs: all passed, checks
failed, or the suite could not run at all (so there is no verdict about the site).

The suite machine's own families (plugins/families.py): a machine with no IPv4 cannot try any
SE host's IPv4; those items "could not run" (one root cause, no host at fault). When they are the
only items that did not pass, the run exits PASSED: an IPv6-only client proved every IPv6 item,
which is what the suite is for, and a nightly job there must not stay red for ever (the verdict
and the result file say which items did not run and why). A machine with no IPv6 cannot prove
what the suite exists to prove: USAGE_ERROR ("could not run"), as for missing credentials.
"""

from __future__ import annotations

# pytest's codes (pytest.ExitCode), restated so the docs table is checked against code.
PASSED = 0  # every check passed (skips and waived failures included)
CHECKS_FAILED = 1  # at least one check failed or errored
INTERRUPTED = 2  # Ctrl-C or -x/--maxfail stop
INTERNAL_ERROR = 3  # a bug or crash inside the suite or a plugin
USAGE_ERROR = 4  # bad command line, bad inventory, no credentials, malformed waiver file
NO_TESTS = 5  # nothing collected (wrong path, -k selecting nothing)

# The comparison's codes (python -m se_dualstack.compare).
COMPARE_OK = 0  # nothing regressed
COMPARE_REGRESSED = 1  # at least one check passed (or was waived/skipped) before and fails now
COMPARE_BAD_INPUT = 2  # a result file is missing or not a result file

CATEGORY = {
    PASSED: "passed",
    CHECKS_FAILED: "checks-failed",
    INTERRUPTED: "could-not-run",
    INTERNAL_ERROR: "could-not-run",
    USAGE_ERROR: "could-not-run",
    NO_TESTS: "could-not-run",
}

DETAIL = {
    PASSED: "all checks passed",
    CHECKS_FAILED: "checks failed",
    INTERRUPTED: "interrupted",
    INTERNAL_ERROR: "internal error",
    USAGE_ERROR: "usage error (bad options, inventory, credentials or waiver file)",
    NO_TESTS: "no tests collected",
}


def category(status: int) -> str:
    """Map an exit status to ``passed`` / ``checks-failed`` / ``could-not-run``."""
    return CATEGORY.get(int(status), "could-not-run")


def detail(status: int) -> str:
    """One human phrase for an exit status (used in the result file and summaries)."""
    return DETAIL.get(int(status), f"unknown exit status {int(status)}")
