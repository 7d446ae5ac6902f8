"""The testbed's own life cycle: up works, down leaves nothing, crashes are cleaned up (root)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed import engine, hostenv

ROOT = Path(__file__).resolve().parents[2]
NAME = f"lc{os.getpid() % 100000}"
TIMEOUT = 120

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the testbed needs root")


def tb(*args: str, check: bool = True, name: str = NAME, **kw: object) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "testbed", "--name", name, *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=TIMEOUT, **kw)
    if check:
        assert res.returncode == 0, f"testbed {args} rc {res.returncode}: {res.stdout}\n{res.stderr}"
    return res


def netns_inodes(name: str) -> set[int]:
    d = Path("/run/netns")
    return {(d / n).stat().st_ino for n in os.listdir(d) if n.startswith(f"{name}-")} if d.exists() else set()


def processes_in(inodes: set[int]) -> list[int]:
    """PIDs of processes living in any of these network namespaces (they would hold sockets)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            link = os.readlink(p / "ns" / "net")
        except OSError:
            continue
        if int(link.split("[")[1].rstrip("]")) in inodes:
            out.append(int(p.name))
    return out


def start_time(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (None once it has ended, a zombie
    included: it holds no socket and only waits for its parent to reap it): with its PID, it
    names one process, where a PID alone may be reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def still_running(processes: list[tuple[int, int | None]]) -> list[int]:
    """The PIDs of these (pid, start time) processes that are still the same processes."""
    return [pid for pid, started in processes if started is not None and start_time(pid) == started]


def mounts_mentioning(name: str) -> list[str]:
    """Mount entries of ANY process that mention the testbed's directories."""
    needles = (f"/se-testbed/{name}", f"netns/{name}-")
    hits = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            text = (p / "mountinfo").read_text()
        except OSError:
            continue
        hits += [f"{p.name}: {ln}" for ln in text.splitlines() if any(n in ln for n in needles)]
    return hits


def assert_nothing_left(name: str, inodes: set[int]) -> None:
    netns_dir = Path("/run/netns")
    left = [n for n in os.listdir(netns_dir) if n.startswith(f"{name}-")] if netns_dir.exists() else []
    assert left == [], f"namespaces left after down: {left}"
    assert processes_in(inodes) == [], f"processes left in the testbed's netns: {processes_in(inodes)}"
    assert mounts_mentioning(name) == [], f"mounts left after down: {mounts_mentioning(name)}"
    assert not Path(f"/run/se-testbed/{name}").exists(), f"/run/se-testbed/{name} left after down"
    assert not Path(f"/var/lib/se-testbed/{name}").exists(), f"/var/lib/se-testbed/{name} left after down"
    assert not Path(f"/run/se-testbed/.{name}.lock").exists(), f"/run/se-testbed/.{name}.lock left after down"
    # nothing of the site's address plan listens in the machine's own namespace either
    ss = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, timeout=10).stdout
    assert "10.42.0." not in ss, f"a 10.42.0.x listener is left in the root netns: {ss}"
    assert "fd42:6:" not in ss, f"an fd42:6:: listener is left in the root netns: {ss}"


@pytest.fixture(scope="module")
def site_up():
    res = tb("up")
    yield res
    tb("down")


def test_up_prints_what_it_started(site_up: subprocess.CompletedProcess) -> None:
    out = site_up.stdout
    for needle in ("head.example.test", "disk01.example.test", "disk02.example.test", "client.example.test",
                   "issuer.example.test", f"/run/se-testbed/{NAME}/inventory.yml",
                   f"/run/se-testbed/{NAME}/ssh_config", "sshd:22"):
        assert needle in out, f"{needle!r} missing from `up` output: {out}"
    st = tb("status")
    # head, two disks, the client and the token issuer
    assert st.stdout.count(" up ") == 5, f"expected 5 hosts up, got {st.stdout.count(' up ')}: {st.stdout}"
    for label in ("inventory", "ssh config", "proxy", "CA dir", "issuer", "tokens"):  # as `up` says
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(label + " ")), None)
        assert line is not None, f"`up` names its {label}: {out}"
        assert line in st.stdout, f"`status` names the {label} too: {st.stdout}"


def test_exec_runs_inside_the_host_with_cwd_preserved(site_up: subprocess.CompletedProcess) -> None:
    res = tb("exec", "disk01", "--", "sh", "-c", "hostname; pwd; ip -br addr show eth0; cat /etc/resolv.conf")
    lines = res.stdout.splitlines()
    assert lines[0] == "disk01.example.test", f"hostname inside disk01: {lines[0]!r}"
    assert lines[1] == str(ROOT), f"cwd inside disk01 is {lines[1]!r}, expected {str(ROOT)!r}"
    assert "10.42.0.11/24" in res.stdout, f"disk01 eth0 lacks 10.42.0.11/24: {res.stdout}"
    assert "fd42:6::11/64" in res.stdout, f"disk01 eth0 lacks fd42:6::11/64: {res.stdout}"
    assert "nameserver fd42:6::1" in res.stdout, f"disk01 resolv.conf lacks fd42:6::1: {res.stdout}"
    # the machine's own /etc and hostname are untouched
    assert "fd42:6::1" not in Path("/etc/resolv.conf").read_text(), (
        f"host /etc/resolv.conf was changed: {Path('/etc/resolv.conf').read_text()}")
    assert os.uname().nodename != "disk01.example.test", f"host hostname was changed: {os.uname().nodename!r}"


def test_run_reaches_every_host_by_ssh_over_both_families(site_up: subprocess.CompletedProcess) -> None:
    script = ('for a in 10.42.0.10 fd42:6::10 disk01-v6.example.test disk02.example.test; do '
              'ssh -F "$SE_TESTBED_STATE/ssh_config" root@$a hostname || exit 1; done; '
              'echo "$X509_USER_PROXY|$PYTEST_ADDOPTS"')
    res = tb("run", "--", "sh", "-c", script)
    lines = res.stdout.splitlines()
    assert lines[:4] == ["head.example.test", "head.example.test",
                         "disk01.example.test", "disk02.example.test"], (
        f"hostnames over ssh: {lines[:4]}; stderr: {res.stderr}")
    assert f"--inventory=/run/se-testbed/{NAME}/inventory.yml" in lines[4], (
        f"PYTEST_ADDOPTS lacks --inventory: {lines[4]!r}")
    assert f"--ssh-config=/run/se-testbed/{NAME}/ssh_config" in lines[4], (
        f"PYTEST_ADDOPTS lacks --ssh-config: {lines[4]!r}")


def test_dns_publishes_a_aaaa_ptr_and_aliases(site_up: subprocess.CompletedProcess) -> None:
    code = ("import dns.resolver, dns.reversename as r\n"
            "q = dns.resolver.Resolver(configure=False); q.nameservers = ['fd42:6::1']; q.lifetime = 3\n"
            "print(q.resolve('head.example.test', 'A')[0], q.resolve('head.example.test', 'AAAA')[0],\n"
            "      q.resolve(r.from_address('fd42:6::11'), 'PTR')[0],\n"
            "      q.resolve('disk02-v6.example.test', 'AAAA')[0])\n"
            "try:\n    q.resolve('disk02-v6.example.test', 'A'); print('A!')\n"
            "except Exception as e:\n    print(type(e).__name__)\n")
    res = tb("run", "--", sys.executable, "-c", code)
    assert res.stdout.split() == ["10.42.0.10", "fd42:6::10", "disk01.example.test.", "fd42:6::12",
                                  "NXDOMAIN"], f"DNS answers: {res.stdout.split()}; stderr: {res.stderr}"


def _head() -> dict:
    state = json.loads(Path(f"/run/se-testbed/{NAME}/state.json").read_text())
    return next(h for h in state["hosts"] if h["short"] == "head")


def test_services_start_once_the_host_resolves_its_own_name(site_up: subprocess.CompletedProcess) -> None:
    """XRootD resolves the host's names before its first log line: `up` starts it only after the
    host's resolver answers (the gate's mark sits between the firewall's and the services')."""
    marks = _head()["marks"]
    assert marks["firewall"] <= marks["dns"] <= marks["started"], f"head's start marks: {marks}"


def test_resolver_gate_gives_up_on_a_name_dns_does_not_have(site_up: subprocess.CompletedProcess) -> None:
    head = _head()
    t0 = time.monotonic()
    assert hostenv.wait_resolves(head["pid"], "nosuch.example.test", 1.0) is False
    assert time.monotonic() - t0 < 10, "the resolver gate ran past its bound"
    assert hostenv.wait_resolves(head["pid"], "head.example.test", 1.0) is True


def test_a_service_that_does_not_listen_is_described(site_up: subprocess.CompletedProcess) -> None:
    head = _head()
    svc = head["services"][0]
    assert hostenv.process_state(head["pid"], svc["started"], svc["pidfile"]).startswith("running (state ")
    assert hostenv.process_state(head["pid"], 4_000_000) == "exited"


def test_faults_apply_by_hand(site_up: subprocess.CompletedProcess) -> None:
    tb("fault", "disk01", "no_aaaa")
    tb("fault", "head", "ip6tables_close:443")  # the default site's el7 host (iptables)
    code = ("import dns.resolver\n"
            "q = dns.resolver.Resolver(configure=False); q.nameservers = ['10.42.0.1']; q.lifetime = 3\n"
            "a = q.resolve('disk01.example.test', 'AAAA', raise_on_no_answer=False)\n"
            "print(len(a.rrset or []), q.resolve('disk01.example.test', 'A')[0])\n")
    res = tb("run", "--", sys.executable, "-c", code)
    assert res.stdout.split() == ["0", "10.42.0.11"], (
        f"no_aaaa: expected 0 AAAA and A 10.42.0.11, got {res.stdout.split()}; stderr: {res.stderr}")
    rules = tb("exec", "head", "--", "sh", "-c", "ip6tables -S INPUT; echo ==; iptables -S INPUT").stdout
    v6, v4 = rules.split("==")
    assert "--dport 443 " not in v6, f"ip6tables_close:443 left 443 open on v6: {v6}"
    assert "--dport 443 " in v4, f"ip6tables_close:443 closed 443 on v4: {v4}"
    bad = tb("fault", "disk02", "gai_conf_empty", check=False)
    assert bad.returncode == 2, f"gai_conf_empty on el7 should exit 2, got {bad.returncode}: {bad.stderr}"
    assert "sl6" in bad.stderr, f"refusal does not mention sl6: {bad.stderr}"


def test_down_leaves_nothing_and_second_down_is_a_noop() -> None:
    name = f"ld{os.getpid() % 100000}"
    tb("up", name=name)
    inodes = netns_inodes(name)
    # site, head, disk01, disk02, client, issuer
    assert len(inodes) == 6, f"expected 6 namespaces after up, got {len(inodes)}"
    # a session from the client with a ControlMaster that would outlive a plain `ip netns del`
    tb("run", "--", "ssh", "-F", f"/run/se-testbed/{name}/ssh_config", "10.42.0.11", "true", name=name)
    res = tb("down", name=name)
    assert "removed 6 namespaces" in res.stdout, f"down did not report 6 namespaces removed: {res.stdout}"
    assert_nothing_left(name, inodes)
    res = tb("down", name=name)
    assert "nothing to remove" in res.stdout, f"second down was not a no-op: {res.stdout}"


def test_up_after_a_crash_cleans_first() -> None:
    name = f"lx{os.getpid() % 100000}"
    try:
        # crash 1: `up` killed half way through
        proc = subprocess.Popen([sys.executable, "-m", "testbed", "--name", name, "up"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not netns_inodes(name) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        tb("up", name=name)
        # crash 2: state file lost, processes still running
        # The old processes by PID and start time: once the old namespaces are freed, the new
        # site's namespaces may reuse their inode numbers, so "processes in those inodes" would
        # count the new site's own processes.
        old = [(pid, start_time(pid)) for pid in processes_in(netns_inodes(name))]
        assert old, "the site that lost its state runs no processes to clean up"
        Path(f"/run/se-testbed/{name}/state.json").unlink()
        res = tb("up", name=name)
        assert "cleaned leftovers" in res.stderr, f"up after lost state did not clean leftovers: {res.stderr}"
        assert still_running(old) == [], f"old processes survived the clean-up: {still_running(old)}"
    finally:
        inodes = netns_inodes(name)
        tb("down", name=name)
    assert_nothing_left(name, inodes)


def test_refuses_without_root() -> None:
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                          "testbed", "--name", "lnr", "up"], cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert res.returncode == 2, res.stderr
    assert "needs root" in res.stderr, f"refusal does not say it needs root: {res.stderr}"
    assert not Path("/run/se-testbed/lnr").exists(), "non-root up created /run/se-testbed/lnr"


def test_refuses_without_namespace_support(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: False if str(p) == "/proc/self/ns/pid" else real(p))
    with pytest.raises(engine.TestbedError, match="no pid namespace support"):
        engine.preflight()
