"""Which family's checks apply to a host, and which can run from the suite machine.

Why one place: two different reasons keep an IPv4 item from giving a verdict, and the report must
never mix them up. A host the inventory declares IPv6-only (``se_families: [ipv6]``) has no IPv4
to check: its IPv4 checks and transfers are not applicable, saying so (SE6-FAM-01 checks that
IPv4 is really gone). A suite machine with no IPv4 cannot look at anyone's IPv4: those items
"could not run", one root cause for all of them (``suite-family:4``), and no SE host is at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
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
    ends = [getattr(case, k, "") for k in ("entry", "target", "source_host", "dest_host", "source_entry",
                                           "dest_entry")]
    for name in dict.fromkeys(e for e in ends if e):
        h = hosts.get(name)
        if h is not None and declared_na(h.vars, case.family):
            return f"{name} {families.DECLARED_IPV6_ONLY}: no IPv{case.family} transfer to it"
    return ""


def runnable(case: Any, hosts: Mapping[str, Any], machine: MachineNet) -> bool:
    """Whether a transfer case will really run (the transfer pool plans only those)."""
    return not transfer_na(case, hosts) and not suite_missing(machine, case.family)


def require_transfer(case: Any, hosts: Mapping[str, Any], machine: MachineNet, check: Bound) -> None:
    """N/A for an end declared without the case's family; "could not run" for a suite machine
    without it (the case's target is named: the data would have landed there)."""
    why = transfer_na(case, hosts)
    if why:
        check.not_applicable(why)
    missing = suite_missing(machine, case.family)
    if missing:
        blocked(check, missing, case.family)


def _client_names(case: Any) -> list[tuple[str, str]]:
    """(name the client resolves, the address pinned for it or "") of each end it connects to:
    a round trip's entry and redirect target, a third-party copy's source and destination."""
    if hasattr(case, "source"):
        return [(case.source.host, ""), (case.dest.host, "")]
    out = [(case.endpoint.host, case.address)]
    if case.target != case.entry and not case.alias:
        out.append((case.target, case.target_address))
    return out


def through_nat64(case: Any, resolve: Callable[[str, int], list[str]], prefixes: list[str]) -> bool:
    """An IPv6 case where the client reaches an end only at AAAA records DNS64 made up (in a
    NAT64 prefix): it proves the NAT64 gateway, not the host's own IPv6."""
    if case.family != 6:
        return False
    for name, pinned in _client_names(case):
        addrs = [pinned] if pinned else resolve(name, 6)
        if addrs and all(families.synthesized(a, prefixes) for a in addrs):
            return True
    return False


def label_nat64(cases: list[Any], resolve: Callable[[str, int], list[str]],
                prefixes: list[str]) -> list[Any]:
    """The cases, those through NAT64 marked so (their ids end ``-nat64``)."""
    return [replace(c, nat64=True) if through_nat64(c, resolve, prefixes) else c for c in cases]


def shared_cause(case: Any, ends: list[str], hosts: Mapping[str, Any], facts: Any,
                 check: Bound) -> tuple[str, str, str]:
    """(host, cause, sentence) of a failed transfer or redirect chain whose cause another check
    names, so the report shows it once: an end (``ends``, the most likely first) with no IPv4 that
    cannot reach its token issuer over IPv6 (a token case; SE6-DEP-01), else, over IPv6, the first
    end with no AAAA of its own (SE6-DNS-02). ("", "", "") otherwise: the failure stands alone."""
    names = [e for e in dict.fromkeys(ends) if e in hosts]
    if case.auth == "token":
        for name in names:
            cause, why = token_issuer_cause(facts, hosts[name])
            if cause:
                return name, cause, why
    if case.family == 6 and names:
        cause, why = no_aaaa_cause(facts, hosts[names[0]], check)
        if cause:
            return names[0], cause, why
    return "", "", ""


def token_issuer_cause(facts: Any, se_host: Any) -> tuple[str, str]:
    """(cause key, sentence) when a host with no IPv4 cannot reach a token issuer it trusts over
    IPv6 (SE6-DEP-01): a token transfer to it then fails because it cannot fetch the issuer's
    keys, one root cause with that check. ("", "") when that is not the case or cannot be told."""
    try:
        addrs = facts.host_addresses(se_host, se_host.testinfra)
        if addrs is None or families.usable(addrs, 4):
            return "", ""
        rep = facts.dependencies(se_host, se_host.testinfra)
    except Exception:  # unreachable over ssh (CouldNotRun), ssh errors: the failure stands as it is
        return "", ""
    bad = [d for d in rep.issuers if rep.failures([d])]
    if not bad:
        return "", ""
    return (f"dependency:{bad[0].kind} {bad[0].url}",
            f"; {se_host.name} has no IPv4 and cannot reach its token issuer {bad[0].url} over IPv6 "
            "(SE6-DEP-01), so it cannot fetch the issuer's keys to validate the token")


def no_aaaa_cause(facts: Any, se_host: Any, check: Bound) -> tuple[str, str]:
    """(cause key, sentence) when a host has no AAAA record of its own (SE6-DNS-02, the same
    cause): an IPv6 transfer to it cannot reach the host itself, whatever else is right."""
    try:
        ans = facts.addresses(se_host, 6, check.at(se_host.name))
    except AssertionError:  # the resolver did not answer: the DNS checks say so
        return "", ""
    if ans.records:
        return "", ""
    return (no_aaaa_key(se_host.name),
            f"; {se_host.name} has no AAAA record of its own ({ans.describe()}; SE6-DNS-02)")


def no_aaaa_key(host: str) -> str:
    return f"no-aaaa:{host}"
