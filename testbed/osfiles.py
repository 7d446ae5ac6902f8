"""The files that make a host look like SL6, EL7 or EL9 to the suite, faults applied.

Everything returned here is written into the host's /etc overlay (never the machine's /etc):
os-release / redhat-release, the saved network configuration (ifcfg-eth0 on sl6/el7, a
NetworkManager keyfile on el9), /etc/hosts, /etc/gai.conf, /etc/resolv.conf, /etc/hostname,
/etc/sysconfig/network.
"""

from __future__ import annotations

from typing import Any

from testbed import faults
from testbed.site import resolvers

# path -> None means: the file must not exist on this personality (an overlay whiteout).
OS_RELEASE = {
    "sl6": {"/etc/redhat-release": "Scientific Linux release 6.10 (Carbon)\n", "/etc/os-release": None,
            "/etc/system-release": "Scientific Linux release 6.10 (Carbon)\n"},
    "el7": {"/etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
            "/etc/system-release": "CentOS Linux release 7.9.2009 (Core)\n",
            "/etc/os-release": 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\n'
                               'VERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n'
                               'CPE_NAME="cpe:/o:centos:centos:7"\n'},
    "el9": {"/etc/redhat-release": "AlmaLinux release 9.4 (Seafoam Ocelot)\n",
            "/etc/system-release": "AlmaLinux release 9.4 (Seafoam Ocelot)\n",
            "/etc/os-release": 'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\n'
                               'ID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\n'
                               'PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"\n'},
}

HOSTS_V4 = "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n"
HOSTS_V6 = "::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n"

GAI_LABELS = [
    "label ::1/128 0", "label ::/0 1", "label 2002::/16 2", "label ::/96 3", "label ::ffff:0:0/96 4",
    "label fec0::/10 5", "label fc00::/7 6", "label 2001:0::/32 7", "label ::ffff:7f00:0001/128 8",
]
GAI_HEADER = ("# Configuration for getaddrinfo(3).\n#\n# So far only configuration for the destination "
              "address sorting is needed.\n# RFC 3484 governs the sorting.\n")


def ifcfg(site: dict[str, Any], host: dict[str, Any]) -> str:
    """ifcfg-eth0 as an EL6/EL7 admin writes it; the IPv6 lines are what the story added."""
    gw4 = site["dns"]["ipv4"]
    lines = ["DEVICE=eth0", "TYPE=Ethernet", "ONBOOT=yes", "BOOTPROTO=none", "NM_CONTROLLED=no"]
    if host["ipv4"]:  # an IPv6-only host: no IPv4 lines at all
        lines += [f"IPADDR={host['ipv4']}", f"PREFIX={site['ipv4_prefixlen']}", f"GATEWAY={gw4}"]
    lines.append(f"DOMAIN={site['domain']}")
    if host["has_ipv6"] and not faults.has(host, "ifcfg_no_ipv6init"):
        lines += ["IPV6INIT=yes"]
        if host["os"] == "sl6":
            lines += ["DHCPV6C=yes"]
        else:
            lines += ["IPV6_AUTOCONF=no"]
        lines += [f"IPV6ADDR={host['ipv6']}/{site['ipv6_prefixlen']}",
                  f"IPV6_DEFAULTGW={site['dns']['ipv6']}"]
    return "\n".join(lines) + "\n"


# gai.conf(5)'s own example "to prefer IPv4": the first precedence line replaces the whole table.
GAI_PREFER_IPV4 = "precedence ::ffff:0:0/96  100\n"


def nm_keyfile(site: dict[str, Any], host: dict[str, Any]) -> str:
    """NetworkManager keyfile (EL9 has no ifcfg files by default)."""
    v6 = (f"method=manual\naddress1={host['ipv6']}/{site['ipv6_prefixlen']},{site['dns']['ipv6']}\n"
          f"dns={site['dns']['ipv6']};\n"
          if host["has_ipv6"] and not faults.has(host, "ifcfg_no_ipv6init") else "method=disabled\n")
    v4 = (f"method=manual\naddress1={host['ipv4']}/{site['ipv4_prefixlen']},{site['dns']['ipv4']}\n"
          f"dns={site['dns']['ipv4']};\ndns-search={site['domain']};\n"
          if host["ipv4"] else "method=disabled\n")
    return ("[connection]\nid=eth0\nuuid=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e{:02x}\ntype=ethernet\n"
            "interface-name=eth0\nautoconnect=true\n\n[ethernet]\n\n"
            "[ipv4]\n{}\n[ipv6]\n{}"
            "addr-gen-mode=eui64\n\n[proxy]\n").format(host["index"], v4, v6)


def gai_conf(host: dict[str, Any]) -> str:
    """SL6: the label table from the story (or the faulty empty/partial file); others: comments.
    Fault gai_prefers_ipv4: the line that sorts IPv4 addresses first, appended."""
    prefer4 = GAI_PREFER_IPV4 if faults.has(host, "gai_prefers_ipv4") else ""
    if host["os"] != "sl6":
        return GAI_HEADER + prefer4
    if faults.has(host, "gai_conf_empty"):
        return prefer4
    labels = GAI_LABELS[:4] if faults.has(host, "gai_conf_partial") else GAI_LABELS
    return "\n".join(labels) + "\n" + prefer4


def files(site: dict[str, Any], host: dict[str, Any]) -> dict[str, str | None]:
    """Every OS file of the host: abs path inside the host -> content (None: must not exist)."""
    out: dict[str, str | None] = dict(OS_RELEASE[host["os"]])
    hosts = HOSTS_V4 + ("" if faults.has(host, "hosts_no_ipv6_localhost") else HOSTS_V6)
    out["/etc/hosts"] = hosts
    out["/etc/gai.conf"] = gai_conf(host)
    servers = resolvers(site, host)
    dns64 = site.get("dns64") and servers == [site["dns64"]["address"]]
    what = "DNS64 (unbound, in the site namespace)" if dns64 else "dnsmasq in the site namespace"
    out["/etc/resolv.conf"] = (f"# testbed DNS: {what}\nsearch {site['domain']}\n"
                               + "".join(f"nameserver {a}\n" for a in servers)
                               + "options timeout:2 attempts:2\n")
    out["/etc/hostname"] = host["fqdn"] + "\n"
    if host["os"] in ("sl6", "el7"):
        net = f"NETWORKING=yes\nHOSTNAME={host['fqdn']}\n"
        if host["has_ipv6"] and not faults.has(host, "ifcfg_no_ipv6init"):
            net += "NETWORKING_IPV6=yes\n"
        out["/etc/sysconfig/network"] = net
        out["/etc/sysconfig/network-scripts/ifcfg-eth0"] = ifcfg(site, host)
    else:
        out["/etc/NetworkManager/system-connections/eth0.nmconnection"] = nm_keyfile(site, host)
    return out


def init_script(name: str, pidfile: str | None, argv: list[str]) -> str:
    """A SysV init script whose `status` follows the service's pidfile (what `service X status`
    and testinfra's SysvService read); start/stop are informative only: the testbed starts it."""
    pf = pidfile or f"/run/{name}.pid"
    cmd = " ".join(argv)
    return f"""#!/bin/sh
# chkconfig: 345 90 10
# description: {name} (started by the SE testbed: {cmd})
PIDFILE={pf}
case "$1" in
  status)
    if [ -f "$PIDFILE" ]; then
      pid=$(cat "$PIDFILE")
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "{name} (pid $pid) is running..."; exit 0; fi
      echo "{name} dead but pid file exists"; exit 1
    fi
    echo "{name} is stopped"; exit 3 ;;
  stop)
    [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" && rm -f "$PIDFILE"; exit 0 ;;
  *) echo "Usage: $0 {{status|stop}} (the testbed starts {name})"; exit 2 ;;
esac
"""


def unit_file(name: str, pidfile: str | None, argv: list[str]) -> str:
    """A systemd unit as el7/el9 would ship it (for the record: the host's `systemctl` is a shim
    over the init script, since no systemd runs in a host)."""
    pid = f"PIDFile={pidfile}\n" if pidfile else ""
    return (f"[Unit]\nDescription={name} (SE testbed)\nAfter=network-online.target\n\n"
            f"[Service]\nType=simple\n{pid}ExecStart={' '.join(argv)}\n\n"
            "[Install]\nWantedBy=multi-user.target\n")
