"""An unreachable host end to end: a real sshd in a network namespace of its own (root only),
one that refuses and one that cannot be routed to; their checks fail with one line each, once
per host, while the other checks run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pluginsuite import local_os, read_report

# --------------------------------------------------------------------------- unreachable host


UNREACHABLE_INVENTORY = """
all:
  vars: {se_site: netsite, se_ssh_timeout: 3}
  children:
    headnodes:
      hosts:
        head.example.test: {ansible_host: 127.0.0.1}
    disknodes:
      hosts:
        disk01.example.test: {ansible_host: 127.0.0.1, ansible_port: 2222}
        disk02.example.test: {ansible_host: 10.255.255.1}
"""

UNREACHABLE_CHECKS = '''
import pytest
from se_dualstack import checks


@pytest.mark.check("SE6-T-01")
def test_ssh(se_host, host):
    checks.expect(host.file("/etc/hostname").exists, "SE6-T-01", se_host.name, "a file", "none")


@pytest.mark.check("SE6-T-02")
def test_service(se_host_service, host):
    h, svc = se_host_service
    host.socket(f"tcp://{svc.port}")


@pytest.mark.check("SE6-T-04")
def test_dns_needs_no_ssh(se_host):
    assert se_host.name.endswith(".example.test"), "name"
'''


@pytest.fixture
def netns_sshd(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """sshd on 127.0.0.1:22 inside a network namespace fw-<pid> made for this test."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespace and sshd)")
    for tool in ("ip", "ssh", "ssh-keygen", "/usr/sbin/sshd"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (apt-get install openssh-server openssh-client iproute2)")
    ns = f"fw-{os.getpid()}"
    d = tmp_path / "ssh"
    d.mkdir()
    for key in ("hostkey", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                       check=True, timeout=30)
    (d / "authorized_keys").write_text((d / "id.pub").read_text())
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:22\nHostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\nMaxStartups 50\nMaxSessions 50\n")
    (d / "ssh_config").write_text(
        f"Host *\n  User root\n  IdentityFile {d}/id\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    proc = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)
        # An empty private /root for the sessions: the machine's root dotfiles (a pyenv init that
        # takes a global lock on every shell start) must not run in each ssh session.
        (d / "home").mkdir(mode=0o700)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation",
                                 "private", "sh", "-c", 'mount --bind "$1" /root && shift && exec "$@"', "sh",
                                 str(d / "home"), "/usr/sbin/sshd", "-D", "-e", "-f",
                                 str(d / "sshd_config")], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(["ip", "netns", "exec", ns, "ssh", "-F", str(d / "ssh_config"),
                                    "-o", "ConnectTimeout=2", "127.0.0.1", "true"],
                                   capture_output=True, timeout=15)
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"sshd in {ns} did not come up", pytrace=False)
        yield ns, d / "ssh_config"
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30)


def test_unreachable_host_fails_its_checks_with_one_line(project: pytest.Pytester,
                                                         netns_sshd: tuple[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ns, ssh_config = netns_sshd
    monkeypatch.setenv("COLUMNS", "400")  # whole summary lines
    project.path.joinpath("inventory.yml").write_text(UNREACHABLE_INVENTORY)
    project.makepyfile(test_checks=UNREACHABLE_CHECKS)
    started = time.monotonic()
    result = project.run("ip", "netns", "exec", ns, sys.executable, "-m", "pytest",
                       "--inventory=inventory.yml", f"--ssh-config={ssh_config}", "-rf", "-p",
                       "no:randomly", timeout=300)
    elapsed = time.monotonic() - started
    assert result.ret == 1, f"checks failed, run completed: {result.outlines[-15:]}"
    out = "\n".join(result.outlines)
    refused = ("[SE6-T-01] disk01.example.test: host unreachable over ssh (ssh: connect to host "
               "127.0.0.1 port 2222: Connection refused); could not run. Fix: Make the host "
               "reachable over ssh from the machine running the suite (sshd running, key accepted), "
               "or fix ansible_host / --ssh-config.")
    assert f"FAILED test_checks.py::test_ssh[disk01.example.test] - {refused}" in out, out
    assert re.search(r"FAILED test_checks.py::test_service\[disk02.example.test-gsiftp\] - "
                     r"\[SE6-T-02\] disk02.example.test: host unreachable over ssh \(ssh: connect to "
                     r"host 10.255.255.1 port 22: Network is unreachable\)", out), out
    lines = result.outlines
    at = next(i for i, ln in enumerate(lines) if re.match(r"_+ test_ssh\[disk01.example.test\] _+$", ln))
    assert lines[at + 1] == refused, f"the failure is that line: {lines[at:at + 4]}"
    assert lines[at + 2].startswith("____"), f"and only that line: {lines[at:at + 4]}"
    failed = [ln for ln in result.outlines if ln.startswith("FAILED")]
    assert len(failed) == 2 * (1 + 3), f"ssh checks of the two dead hosts only: {failed}"
    assert "Traceback" not in out, "no ssh tracebacks"
    assert "RuntimeError" not in out, "no testinfra RuntimeError dumps"
    assert "test_checks.py::test_dns_needs_no_ssh" not in " ".join(failed), "DNS checks still run"
    assert elapsed < 120, f"probed once per host, bounded: {elapsed:.0f}s"
    html = read_report(next((project.path / "reports").glob("netsite-2*.html")))
    assert "Unreachable hosts" in html, "report written, lists the unreachable hosts"
    assert "disk01.example.test unreachable over ssh (ssh: connect to host 127.0.0.1 port 2222: " \
           "Connection refused): 4 checks could not run" in html, "one root cause per dead host"
    assert "Connection refused" in html, "and says why"
    assert f"{local_os()} detected" in html, "the reachable host's OS, detected over ssh"
