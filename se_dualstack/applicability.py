"""Which family's checks apply to a host, and which can run from the suite machine.

Why one place: two different reasons keep an IPv4 item from giving a verdict, and the report must
never mix them up. A host the inventory declares IPv6-only (``se_families: [ipv6]``) has no IPv4
to check: its IPv4 checks and transfers are not applicable, saying so (SE6-FAM-01 checks that
IPv4 is really gone). A suite machine with no IPv4 cannot look at anyone's IPv4: those items
"could not run", one root cause for all of them (``suite-family:4``), and no SE host is at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from se_dualstack.checks import Bound
from se_dualstack.concerns import families
from se_dualstack.concerns.families import MachineNet

SUITE_CAUSE = "suite-family"  # the cause key's kind: "suite-family:4", "suite-family:6"


def suite_cause(family: int) -> str:
    return f"{SUITE_CAUSE}:{family}"


def declared_na(vars_: Mapping[str, Any], family: int) -> str:
    """Why a check of ``family`` does not apply to a host with these variables ("" if it does)."""
    if family == 4 and families.ipv6_only(vars_):
        return f"{families.DECLARED_IPV6_ONLY}: no IPv4 to check; SE6-FAM-01 checks that IPv4 is really gone"
    return ""


def require_declared(se_host: Any, family: int, check: Bound) -> None:
    """Skip (N/A) a check of ``family`` on a host declared without that family."""
    why = declared_na(se_host.vars, family)
    if why:
        check.not_applicable(why)


def suite_missing(machine: MachineNet, family: int) -> str:
    """Why nothing can be tried over ``family`` from the suite machine ("" when it can)."""
    if machine.has(family):
        return ""
    return f"the suite machine has no IPv{family} ({machine.family_text(family)})"


def could_not_run_fix(family: int) -> str:
    other = 6 if family == 4 else 4
    return (f"Run the IPv{family} checks and transfers from a machine with IPv{family} (a dual-stack "
            f"UI); this one proves IPv{other} only. Nothing to fix on the SE for this.")


def require_suite_family(machine: MachineNet, family: int, check: Bound) -> None:
    """Fail as "could not run" (one root cause, no SE host at fault) when the suite machine has
    no address of ``family``."""
    why = suite_missing(machine, family)
    if why:
        check.could_not_run(why, could_not_run_fix(family), suite_cause(family))


def blocked(bound: Bound, reason: str, family: int) -> NoReturn:
    """Raise the suite machine's could-not-run for ``bound`` (a transfer test)."""
    bound.could_not_run(reason, could_not_run_fix(family), suite_cause(family))


def transfer_na(case: Any, hosts: Mapping[str, Any]) -> str:
    """Why a transfer case does not apply: an end of it (entry, target, TPC source or
    destination) is an inventory host declared without the case's family ("" when it applies)."""
    ends = [getattr(case, k, "") for k in ("entry", "target", "source_host", "dest_host")]
    for name in dict.fromkeys(e for e in ends if e):
        h = hosts.get(name)
        if h is not None and declared_na(h.vars, case.family):
            return f"{name} {families.DECLARED_IPV6_ONLY}: no IPv{case.family} transfer to it"
    return ""
