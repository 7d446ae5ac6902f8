"""An EOS-shaped site: the MGM redirects clients to FSTs, xroot to 1095 and HTTP to each FST's
EOS_FST_HTTP_PORT.

EOS's MGM and FST are XRootD plug-ins (libXrdEosMgm, libXrdEosFst) that Debian 12 does not
package; the servers here are plain XRootD started the way EOS starts them, `xrootd -n mgm -c
/etc/xrd.cf.mgm` and `xrootd -n fst -c /etc/xrd.cf.fst`, with the namespace, MQ messaging and
scheduling of EOS replaced by an XRootD manager/server cluster. Ports, per EOS's sources and
documentation (cern-eos/eos):

MGM (head)  xroot 1094 (`-n mgm`; mgmofs.targetport 1095 sends clients to FSTs on 1095);
            HTTPS 8443 (XrdHttp, EOS_MGM_HTTP_PORT; `-n mgm-http`, a second instance: an XRootD
            manager's HTTP redirect carries the data server's xroot port, and EOS redirects HTTP
            clients to the FST's HTTP port instead); MQ 1097 (`-n mq`, EOS_BROKER_URL)
FST (disk)  xroot 1095 (`-n fst`, xrd.port 1095 in EOS's xrd.cf.fst); HTTP on EOS_FST_HTTP_PORT
            (`-n fst-http`, XrdHttp): 9001, as EOS 5's HTTP documentation sets it (the FST's
            own default without it is 8001)
EOS redirects HTTPS clients to https:// on the FST here (EOS's default,
eos::mgm::http::redirect-to-https=0, hands out http:// with a signed capability instead).
"""

from __future__ import annotations

from pathlib import Path

from testbed import faults
from testbed.services import ServiceSpec, store_path
from testbed.systems import xrd
from testbed.systems.base import head

MGM_XROOT, MGM_HTTP, MQ = 1094, 8443, 1097
FST_XROOT, FST_HTTP = 1095, 9001
FST_HTTP_DEFAULT = 8001   # the FST's own default; fault eos_fst_http_port_mismatch listens here
CMS_MGM, CMS_MGM_HTTP = 2131, 2132   # cmsd ports (EOS's xrd.cf.fst names 2131 for all.manager)
INSTANCE = "eostestbed"


def instances(site: dict, host: dict) -> list[xrd.Instance]:
    fqdn = head(site)["fqdn"]
    if host["role"] == "headnode":
        return [xrd.Instance("mgm", MGM_XROOT, "manager", f"{fqdn}:{CMS_MGM}",
                             note="EOS MGM, xroot: redirects to the FST's xroot port "
                                  f"(mgmofs.targetport {FST_XROOT})"),
                xrd.Instance("mgm-http", MGM_HTTP, "manager", f"{fqdn}:{CMS_MGM_HTTP}", http=True,
                             note="EOS MGM, HTTPS (XrdHttp, EOS_MGM_HTTP_PORT): redirects to the FST's "
                                  "EOS_FST_HTTP_PORT")]
    v4 = xrd.ipv4_only(host, "xrootd", "fst")
    # fault eos_fst_http_port_mismatch: the FST advertises EOS_FST_HTTP_PORT (the MGM redirects
    # there) while xrd.cf.fst puts XrdHttp on 8001: the advertised port speaks xroot only
    mismatch = faults.has(host, "eos_fst_http_port_mismatch")
    return [xrd.Instance("fst", FST_XROOT, "server", f"{fqdn}:{CMS_MGM}", v4only=v4,
                         note="EOS FST, xroot (xrd.port 1095)"),
            xrd.Instance("fst-http", FST_HTTP, "server", f"{fqdn}:{CMS_MGM_HTTP}", http=not mismatch,
                         http_ports=(FST_HTTP_DEFAULT,) if mismatch else (),
                         v4only=v4 or xrd.ipv4_only(host, "https", "fst-http"),
                         note="EOS FST, HTTP (XrdHttp on EOS_FST_HTTP_PORT, /etc/sysconfig/eos_env)")]


def eos_env(site: dict, host: dict) -> str:
    """/etc/sysconfig/eos_env (EOS's etc/sysconfig/eos_env.example keys)."""
    mgm = head(site)["fqdn"]
    lines = [f"# EOS environment of {host['fqdn']} (se-testbed: an EOS-shaped site, docs/testbed.md)",
             f"XRD_ROLES=\"{'mq mgm' if host['role'] == 'headnode' else 'fst'}\"",
             f"EOS_INSTANCE_NAME={INSTANCE}", f"EOS_MGM_HOST={mgm}", f"EOS_MGM_ALIAS={mgm}",
             f"EOS_BROKER_URL=root://{mgm}:{MQ}//eos/"]
    if host["role"] == "headnode":
        lines.append(f"EOS_MGM_HTTP_PORT={MGM_HTTP}")
    else:
        lines.append(f"EOS_FST_HTTP_PORT={FST_HTTP}")
    return "\n".join(lines) + "\n"


def specs(site: dict, host: dict, pki: dict, srv: Path) -> list[ServiceSpec]:
    insts = instances(site, host)
    mgm = host["role"] == "headnode"
    cfg = "/etc/xrd.cf.mgm" if mgm else "/etc/xrd.cf.fst"
    text = xrd.config(host, pki, srv, "/store/" if mgm else store_path(host["short"]), insts,
                      [f"se-testbed: EOS {'MGM' if mgm else 'FST'} {host['fqdn']}: plain XRootD started as",
                       "EOS starts its daemons; no libXrdEosMgm/libXrdEosFst (docs/testbed.md, EOS)"],
                      ("xrd.network keepalive",))
    out = xrd.specs(site, host, pki, srv, cfg, text, insts)
    out[0].files["/etc/sysconfig/eos_env"] = (eos_env(site, host), 0o644, "root")
    if mgm:
        mq = [xrd.Instance("mq", MQ, note="EOS MQ (EOS_BROKER_URL): a standalone xrootd on its port")]
        mq_text = xrd.config(host, pki, srv, "/eos/", mq, ["se-testbed: EOS MQ of the MGM (docs/testbed.md)"])
        out += xrd.specs(site, host, pki, srv, "/etc/xrd.cf.mq", mq_text, mq, host_files=False)
    return out


def firewall_ports(site: dict, host: dict) -> list[int | str]:
    if host["role"] == "headnode":
        return [MGM_XROOT, MGM_HTTP, MQ]
    return [FST_XROOT, FST_HTTP]


def managers(site: dict) -> list[xrd.Instance]:
    return instances(site, head(site))
