"""nginx 1.22 (Debian 12) on a host: StoRM WebDAV's front, and a door's redirect rule (a fault).

The host's own /etc/nginx/nginx.conf includes /etc/nginx/conf.d/*.conf at the top level (not
inside `http {}` as Debian's file does), so a conf.d file may hold a `stream {}` block (TLS
passed through to the server behind) or an `http {}` block. Logs, pid and temporary files stay
in the host: error log under its srv/log (also `-e`, before the config is read), pid in its
private /run, temporary files under its private /var/lib/nginx.

nginx's listen semantics are the ones a dual-stack site trips over: `listen [::]:P` alone is
IPv6-only (ipv6only=on is the default since 1.3.4) and `listen P` alone is IPv4-only, so a port
both families reach needs both lines.
"""

from __future__ import annotations

from pathlib import Path

from testbed.services import ServiceSpec

NGINX = "/usr/sbin/nginx"
CONF = "/etc/nginx/nginx.conf"
PIDFILE = "/run/nginx.pid"


def main_conf(srv: Path | str) -> str:
    return f"""# se-testbed: nginx of this host; its sites are the conf.d files (stream or http blocks)
user www-data;
worker_processes 1;
pid {PIDFILE};
error_log {srv}/log/nginx-error.log;
include /etc/nginx/modules-enabled/*.conf;

events {{
\tworker_connections 768;
}}

include /etc/nginx/conf.d/*.conf;
"""


def listen_lines(port: int, v6: bool = True, v4: bool = True, ssl: bool = False) -> list[str]:
    """The listen lines of one port (a fault leaves one family's line out)."""
    opt = " ssl" if ssl else ""
    return [*([f"listen {port}{opt};"] if v4 else []), *([f"listen [::]:{port}{opt};"] if v6 else [])]


def spec(srv: Path | str, conf_files: dict[str, str], ports: list[int]) -> ServiceSpec:
    """nginx in the foreground (`daemon off`), as its systemd unit runs it, with these conf.d files."""
    files = {CONF: (main_conf(srv), 0o644, "root"),
             **{f"/etc/nginx/conf.d/{name}": (text, 0o644, "root") for name, text in conf_files.items()}}
    log = f"{srv}/log/nginx-error.log"
    return ServiceSpec(name="nginx", files=files,
                       argv=[NGINX, "-c", CONF, "-e", log, "-g", "daemon off;"],
                       user="root", env={}, pidfile=PIDFILE, ports=sorted(ports), log=log)
