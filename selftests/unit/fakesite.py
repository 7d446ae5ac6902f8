"""A small site (one head, two disks) built from the model alone, for the transfer unit tests."""

from __future__ import annotations

from se_dualstack.model import PortRange, SEHost, Service, Site


def host(name: str, role: str, **vars_: object) -> SEHost:
    svcs = [Service("gsiftp", 2811, ("globus-gridftp-server",), True, "GridFTP"),
            Service("xrootd", 1094, ("xrootd",), True, "XRootD"),
            Service("https", 443, ("xrootd",), True, "HTTPS")]
    return SEHost(name, role, dict(vars_), svcs, PortRange(20000, 25000))


def site(disk02_dir: str = "/store/disk02/se6test", **disk_vars: object) -> Site:
    hosts = [host("head.example.test", "headnode", se_transfer_dir="/store/head/se6test"),
             host("disk01.example.test", "disknode", se_transfer_dir="/store/disk01/se6test", **disk_vars),
             host("disk02.example.test", "disknode", se_transfer_dir=disk02_dir, **disk_vars)]
    return Site("t", "dpm", "t.yml", hosts, {})
