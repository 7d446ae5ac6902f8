"""Test PKI of the site in a box: CA, host certificates, user certificate, RFC 3820 proxies.

Built in-process with python3-cryptography (Debian's python3-cryptography, seen by the venv
made with --system-site-packages) because it is ~100x faster than one openssl process per
certificate and can backdate validity (the expired proxy), which openssl 3.0's `x509`/`req`
cannot. The only subprocess is one `openssl x509 -hash` for the CA's subject hash (OpenSSL's
canonical-name hash is not worth re-implementing).

Key types (measured on this machine): the CA key is EC prime256v1 (only signs; every
verifier here accepts ECDSA signatures). Host, user and proxy keys are RSA 2048 because
XRootD's GSI protocol encrypts/signs with them through XrdCryptosslRSA: an EC host key fails
the handshake with "ErrExportPuK: encrypting server DH public parameters".

Speed: an RSA 2048 key costs ~0.3 s of CPU here, so a 1+32 site with one key per host spent
~11 s in key generation. All host certificates of a site therefore share ONE RSA key (each
certificate still has its own subject and SANs; nothing in TLS, GSI or the suite needs distinct
keys), and the two proxies share one proxy key: three RSA keys per site, made in parallel.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testbed.faults import ALIAS_SHORT
from testbed.site import CRL_SHORT

# Distinguished names. The OU separates hosts from users; the signing policy allows O=SE-Testbed.
ORG = "SE-Testbed"
CA_CN = "SE Testbed CA"
USER_CN = "SE Testbed User"
# The account every service maps the user to (grid-mapfile): GridFTP setuids to it, XRootD
# runs as it, so files written over any protocol have one owner.
SERVICE_USER = "xrootd"

# RFC 3820 proxyCertInfo, policy language "inherit all" (1.3.6.1.5.5.7.21.1).
_PROXY_CERT_INFO_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_PROXY_CERT_INFO_INHERIT_ALL = bytes.fromhex("300c300a06082b06010505071501")

_NOW_SKEW = dt.timedelta(days=7)  # certificates start a week ago: clock skew never matters
_CERT_LIFE = dt.timedelta(days=365)
CRL_FILE = "se-testbed-ca.crl"  # DER, as CRL distribution points serve it


def _name(*rdns: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(o, v)]) for o, v in rdns])


def _ca_name() -> x509.Name:
    return _name((NameOID.COUNTRY_NAME, "XX"), (NameOID.ORGANIZATION_NAME, ORG), (NameOID.COMMON_NAME, CA_CN))


def _user_name() -> x509.Name:
    return _name(
        (NameOID.COUNTRY_NAME, "XX"),
        (NameOID.ORGANIZATION_NAME, ORG),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "users"),
        (NameOID.COMMON_NAME, USER_CN),
    )


def _host_name(fqdn: str) -> x509.Name:
    return _name(
        (NameOID.COUNTRY_NAME, "XX"),
        (NameOID.ORGANIZATION_NAME, ORG),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "hosts"),
        (NameOID.COMMON_NAME, fqdn),
    )


def dn_string(name: x509.Name) -> str:
    """Globus/OpenSSL one-line DN ("/C=XX/O=.../CN=..."), as grid-mapfiles and policies want it."""
    short = {
        NameOID.COUNTRY_NAME: "C",
        NameOID.ORGANIZATION_NAME: "O",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
        NameOID.COMMON_NAME: "CN",
    }
    return "".join(f"/{short[a.oid]}={a.value}" for rdn in name.rdns for a in rdn)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    # Traditional ("BEGIN RSA/EC PRIVATE KEY"): globus GSI and XrdCrypto read it everywhere.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes | str, mode: int) -> None:
    """Write atomically-enough with the final mode from the start (keys are never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def _builder(
    subject: x509.Name, issuer: x509.Name, pub: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    start: dt.datetime, end: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _make_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _builder(_ca_name(), _ca_name(), key.public_key(), now - _NOW_SKEW, now + 10 * _CERT_LIFE)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _host_dns_names(host: dict, domain: str) -> list[str]:
    """Every name a client may use for the host: dual-stack name and its single-family aliases
    (the site's names when given: an IPv6-only host has no -v4 alias)."""
    short = host["short"]
    fqdn = host.get("fqdn") or f"{short}.{domain}"
    names = [fqdn, f"{short}.{domain}",
             *(host.get("names") or [f"{short}-v6.{domain}", f"{short}-v4.{domain}"])]
    if host.get("role") == "disknode":  # the door alias of fault alias_one_dead, when published
        names.append(f"{ALIAS_SHORT}.{domain}")
    return list(dict.fromkeys(names))


def crl_url(site: dict) -> str:
    """Where the CA publishes its CRL: http on the issuer host, under its own name (crl.<domain>),
    as an IGTF CA publishes at a URL its `<hash>.crl_url` file and its certificates name."""
    return f"http://{CRL_SHORT}.{site['domain']}/{CRL_FILE}"


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    """The CRL Distribution Point extension naming ``url``."""
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None,
        crl_issuer=None)])


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _make_host(
    host: dict, domain: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
    key: rsa.RSAPrivateKey, now: dt.datetime, crl_url: str,
) -> bytes:
    names = _host_dns_names(host, domain)
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    v6 = host.get("ipv6") if host.get("has_ipv6", True) else None
    for addr in (v6, host.get("ipv4")):
        if addr:
            san.append(x509.IPAddress(ipaddress.ip_address(str(addr).split("/")[0])))
    # XRootD redirects a client forced to IPv4 to the data server's address literal, and XrdCl
    # 5.5 checks a TLS peer's name against DNS-type SANs only (no IP SANs, no DNS fallback):
    # once ztn makes every xroot login TLS, such a redirect fails "hostname not in SAN
    # extension" unless the IPv4 address is also a DNS-type SAN.
    if host.get("ipv4"):
        san.append(x509.DNSName(str(host["ipv4"]).split("/")[0]))
    cert = (
        _builder(_host_name(names[0]), ca.subject, key.public_key(), now - _NOW_SKEW, now + _CERT_LIFE)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, True, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(_crl_dp(crl_url), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _pem_cert(cert)


def _make_proxy(
    user: x509.Certificate, user_key: rsa.RSAPrivateKey, key: rsa.RSAPrivateKey,
    start: dt.datetime, end: dt.datetime,
) -> bytes:
    """An RFC 3820 impersonation proxy (what `grid-proxy-init -rfc` makes), as one PEM file."""
    serial = secrets.randbelow(2**31 - 1) + 1
    subject = x509.Name([*user.subject.rdns, x509.RelativeDistinguishedName(
        [x509.NameAttribute(NameOID.COMMON_NAME, str(serial))])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(user.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.KeyUsage(True, False, True, False, True, False, False, False, False), critical=True
        )
        .add_extension(
            x509.UnrecognizedExtension(_PROXY_CERT_INFO_OID, _PROXY_CERT_INFO_INHERIT_ALL), critical=True
        )
        .sign(user_key, hashes.SHA256())
    )
    return _pem_cert(cert) + _pem_key(key) + _pem_cert(user)


def _subject_hash(cert_path: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(cert_path)],
        capture_output=True, text=True, check=True, timeout=10,
    )
    return out.stdout.strip()


def make_pki(state_dir: Path, site: dict) -> dict:
    """Create the site's CA, certificates dir, host/user credentials, proxies and grid-mapfile.

    Everything lands under `state_dir/x509/`. Host keys are mode 0600 root; services that
    drop privileges copy them (services.py) with their own owner.
    """
    state_dir = Path(state_dir)
    base = state_dir / "x509"
    certdir = base / "certificates"
    hostdir = base / "hosts"
    certdir.mkdir(parents=True, exist_ok=True)
    hostdir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    domain = site["domain"]

    # The three RSA keys (host, user, proxy) in parallel: OpenSSL releases the GIL.
    pool = ThreadPoolExecutor(max_workers=3)
    host_key_f, user_key_f, proxy_key_f = (pool.submit(_rsa_key) for _ in range(3))
    ca, ca_key = _make_ca(now)
    ca_pem = _pem_cert(ca)
    _write(base / "ca.pem", ca_pem, 0o644)
    _write(base / "ca.key", _pem_key(ca_key), 0o600)
    h = _subject_hash(base / "ca.pem")
    _write(certdir / f"{h}.0", ca_pem, 0o644)
    ca_dn = dn_string(ca.subject)
    org_prefix = f"/C=XX/O={ORG}"
    _write(
        certdir / f"{h}.signing_policy",
        f"access_id_CA   X509   '{ca_dn}'\npos_rights     globus CA:sign\n"
        f"cond_subjects  globus '\"{org_prefix}/*\"'\n",
        0o644,
    )
    namespaces = f'TO Issuer "{ca_dn}" \\\n  PERMIT Subject "{org_prefix}/.*"\n'
    _write(certdir / f"{h}.namespaces", namespaces, 0o644)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - dt.timedelta(days=1))
        .next_update(now + dt.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    _write(certdir / f"{h}.r0", crl.public_bytes(serialization.Encoding.PEM), 0o644)
    # fetch-crl reads <hash>.crl_url (one URL a line) beside the CA; the issuer host serves the
    # DER file at that URL (testbed/issuer.py --crl-dir)
    url = crl_url(site)
    _write(certdir / f"{h}.crl_url", url + "\n", 0o644)
    _write(state_dir / "crl" / CRL_FILE, crl.public_bytes(serialization.Encoding.DER), 0o644)

    # Host certificates: one shared key (see module doc), ~1 ms per certificate.
    host_key = host_key_f.result()
    host_key_pem = _pem_key(host_key)
    hostcert: dict[str, tuple[str, str]] = {}
    issuer = [site["issuer"]] if site.get("issuer") else []  # the token issuer serves https too
    for hd in [*site["hosts"], *issuer]:
        cpath, kpath = hostdir / f"{hd['short']}-cert.pem", hostdir / f"{hd['short']}-key.pem"
        _write(cpath, _make_host(hd, domain, ca, ca_key, host_key, now, url), 0o644)
        _write(kpath, host_key_pem, 0o600)
        hostcert[hd["short"]] = (str(cpath), str(kpath))

    user_key = user_key_f.result()
    user = (
        _builder(_user_name(), ca.subject, user_key.public_key(), now - _NOW_SKEW, now + _CERT_LIFE)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, True, False, True, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(_crl_dp(url), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    usercert, userkey = base / "usercert.pem", base / "userkey.pem"
    _write(usercert, _pem_cert(user), 0o644)
    _write(userkey, _pem_key(user_key), 0o400)

    proxy, expired = base / "proxy.pem", base / "expired-proxy.pem"
    proxy_key = proxy_key_f.result()
    pool.shutdown()
    _write(proxy, _make_proxy(user, user_key, proxy_key, now - dt.timedelta(minutes=5),
                              now + dt.timedelta(hours=12)), 0o600)
    # Expired a day ago (valid for one day before that): the expired-proxy fault.
    _write(expired, _make_proxy(user, user_key, proxy_key, now - dt.timedelta(days=2),
                                now - dt.timedelta(days=1)), 0o600)

    gridmap = base / "grid-mapfile"
    _write(gridmap, f'"{dn_string(user.subject)}" {SERVICE_USER}\n', 0o644)
    return {
        "certdir": str(certdir),
        "proxy": str(proxy),
        "expired_proxy": str(expired),
        "usercert": str(usercert),
        "userkey": str(userkey),
        "hostcert": hostcert,
        "gridmap": str(gridmap),
        "user_dn": dn_string(user.subject),
        "ca_hash": h,
        "crl_url": url,
        "crl_dir": str(state_dir / "crl"),
    }


def service_uid_gid() -> tuple[int, int]:
    """uid/gid of the service account (Debian's xrootd-server package creates `xrootd`)."""
    pw = pwd.getpwnam(SERVICE_USER)
    return pw.pw_uid, pw.pw_gid
