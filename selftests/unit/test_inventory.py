"""Inventory reading (through ansible-core): precedence, nested groups, and every bad input.

Bad input is what a site admin meets first, so each case pins the one-line message: it must
name the file, the key or host, and what to do. Where the text is Ansible's own (a parse
error), the test pins our frame and the position, not Ansible's wording, which changes between
releases. The forms of issue 8 are in test_inventory_forms.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from se_dualstack.inventory import (
    InventoryError,
    adhoc_site,
    host_from_spec,
    load_site,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "inventory"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path: Path, limit: list[str] | None = None) -> str:
    with pytest.raises(InventoryError) as exc:
        load_site(path, limit=limit)
    msg = str(exc.value)
    assert "\n" not in msg, f"error must be one line: {msg!r}"
    return msg


def summary(path: Path) -> dict[str, object]:
    """Everything the checks read from a site, in comparable form."""
    site = load_site(path)
    return {
        "site": (site.name, site.flavour, sorted(site.vars.items(), key=str)),
        "hosts": [
            (h.name, h.role, h.address, h.user, h.port, h.declared_os, h.interface,
             [(s.name, s.port, s.processes, s.transfer) for s in h.services], str(h.data_range),
             sorted((k, str(v)) for k, v in h.vars.items()))
            for h in site.hosts
        ],
    }


# --------------------------------------------------------------------------- examples


def test_example_yaml_and_ini_describe_the_same_site() -> None:
    yml, ini = summary(EXAMPLES / "dpm-site.yml"), summary(EXAMPLES / "dpm-site.ini")
    assert yml == ini, "dpm-site.yml and dpm-site.ini must describe the same site"


def test_example_dpm_site_resolves_roles_services_and_vars() -> None:
    site = load_site(EXAMPLES / "dpm-site.yml")
    assert (site.name, site.flavour) == ("UKI-EXAMPLE-DPM", "dpm"), "site-wide vars"
    assert [h.name for h in site.hosts] == [
        "dpmhead.example.org", "pool01.example.org", "pool02.example.org", "pool07.example.org",
    ], "inventory order, ranges expanded"
    head = site.host("dpmhead.example.org")
    assert head.role == "headnode", "role from the headnodes group"
    assert [(s.name, s.port) for s in head.services] == [
        ("gsiftp", 2811), ("xrootd", 1094), ("https", 443), ("srm", 8446), ("dpns", 5010),
        ("dpm", 5015)], "DPM head node services from knowledge.yml"
    pool07 = site.host("pool07.example.org")
    assert pool07.role == "disknode", "role through the nested disks_el9 group"
    assert [s.name for s in pool07.services] == ["gsiftp", "xrootd", "https"], "disk services"
    assert pool07.interface == "ens192", "group var of the nested group beats all vars"
    assert (pool07.address, pool07.port, pool07.user) == ("192.0.2.17", 22, "root"), "ssh"
    assert head.user is None, "no ansible_user: no default user, ssh picks (as for Ansible)"
    assert site.host("pool01.example.org").declared_os == "el7", "se_os from a nested group"
    assert [str(tp) + tp.label for tp in pool07.transfer_ports] == [
        "2811gsiftp", "20000:25000gsiftp-data", "1094xrootd", "443https"], "transfer ports"
    assert [str(p) for p in site.ipv6_prefixes] == ["2001:db8:100::/48"], "prefixes"


def test_example_dcache_site_overrides() -> None:
    site = load_site(EXAMPLES / "dcache-site.yml")
    head = site.host("dcache-head.example.org")
    ports = {s.name: s.port for s in head.services}
    assert ports["dcache-webdav"] == 443, "se_service_ports overrides a knowledge port"
    pool = site.host("dcache-pool02.example.org")
    assert [s.name for s in pool.services] == ["dcache-pool", "dcache-gsiftp", "dcache-xrootd"], "se_services"
    assert str(pool.data_range) == "50000-52000", "se_gridftp_data_range from group vars"
    assert [f"{tp.label} {tp}" for tp in pool.transfer_ports] == [
        "dcache-pool-wan 20000:25000", "dcache-pool-xrootd 20000:25000", "dcache-gsiftp 2811",
        "dcache-gsiftp-data 50000:52000", "dcache-xrootd 1094"], \
        "the movers' ranges (xrootd's from se_service_ranges), the GridFTP door's data range"
    assert pool.interface == "bond0", "host var"


# --------------------------------------------------------------------------- precedence


PRECEDENCE_YAML = """
all:
  vars: {se_external_interface: all, se_dns_timeout: 1, se_connect_timeout: 7, se_os: el6}
  children:
    site_a:
      vars: {se_external_interface: parent, se_dns_timeout: 2}
      children:
        headnodes:
          vars: {se_external_interface: child}
          hosts:
            h1.example.org: {se_external_interface: host}
            h2.example.org:
        disknodes:
          hosts:
            d1.example.org:
"""

PRECEDENCE_INI = """
[headnodes]
h1.example.org se_external_interface=host
h2.example.org

[disknodes]
d1.example.org

[site_a:children]
headnodes
disknodes

[headnodes:vars]
se_external_interface=child

[site_a:vars]
se_external_interface=parent
se_dns_timeout=2

[all:vars]
se_external_interface=all
se_dns_timeout=1
se_connect_timeout=7
se_os=el6
"""


@pytest.mark.parametrize(("name", "text"), [("p.yml", PRECEDENCE_YAML), ("p.ini", PRECEDENCE_INI)])
def test_precedence_defaults_all_parent_child_host(tmp_path: Path, name: str, text: str) -> None:
    site = load_site(write(tmp_path, name, text))
    h1, h2, d1 = (site.host(n) for n in ("h1.example.org", "h2.example.org", "d1.example.org"))
    assert h1.interface == "host", "host vars beat group vars"
    assert h2.interface == "child", "child group beats parent group"
    assert d1.interface == "parent", "parent group beats all"
    assert h2.vars["se_dns_timeout"] == 2.0, "parent group beats all (float)"
    assert h2.vars["se_connect_timeout"] == 7.0, "all beats defaults"
    assert h2.vars["se_ssh_timeout"] == 10.0, "defaults apply"
    assert h2.declared_os == "el6", "se_os from all"
    assert site.name == "p", "se_site defaults to the file stem"
    assert (h1.role, d1.role) == ("headnode", "disknode"), "roles"


def test_deeply_nested_groups_give_the_role(tmp_path: Path) -> None:
    p = write(tmp_path, "n.yml", """
all:
  children:
    disknodes:
      children:
        rack1:
          children:
            rack1a:
              hosts:
                pool[a:c].example.org:
    headnodes:
      hosts:
        head.example.org:
""")
    site = load_site(p)
    assert sorted((h.name, h.role) for h in site.hosts) == [
        ("head.example.org", "headnode"), ("poola.example.org", "disknode"),
        ("poolb.example.org", "disknode"), ("poolc.example.org", "disknode")], "nested + ranges"


def test_site_wide_inventory_keeps_only_se_hosts(tmp_path: Path) -> None:
    p = write(tmp_path, "site.ini", """
[headnodes]
head.example.org
[computing]
ce01.example.org
wn[001:003].example.org
""")
    assert [h.name for h in load_site(p).hosts] == ["head.example.org"], "CEs/WNs are not ours"


def test_ini_values_literals_quotes_and_lists(tmp_path: Path) -> None:
    p = write(tmp_path, "v.ini", """
[headnodes]
h.example.org se_services="['gsiftp', 'srm']" se_service_ports="{'srm': 8443}" ansible_port=2222
[all:vars]
se_resolvers = 192.0.2.1, 2001:db8::53
se_ipv6_prefixes="2001:db8::/32"
se_service_processes={'gsiftp': ['globus-gridftp-server', 'dpm-gsiftp']}
""")
    h = load_site(p).hosts[0]
    assert [(s.name, s.port) for s in h.services] == [("gsiftp", 2811), ("srm", 8443)], "services"
    assert h.port == 2222, "ansible_port as int"
    assert h.vars["se_resolvers"] == ["192.0.2.1", "2001:db8::53"], "comma list"
    assert h.vars["se_ipv6_prefixes"] == ["2001:db8::/32"], "single string becomes a list"
    assert h.services[0].processes == ("globus-gridftp-server", "dpm-gsiftp"), "processes override"


def test_site_prefixes_set_on_a_storage_group(tmp_path: Path) -> None:
    p = write(tmp_path, "g.ini", """
[headnodes]
h.example.org
[disknodes]
d.example.org
[storage:children]
headnodes
disknodes
[storage:vars]
se_ipv6_prefixes="2001:db8:5::/48"
""")
    assert [str(n) for n in load_site(p).ipv6_prefixes] == ["2001:db8:5::/48"], (
        "prefixes a site sets on its storage group, not `all`, are the site's")


def test_site_prefixes_default_to_global_unicast(tmp_path: Path) -> None:
    p = write(tmp_path, "n.ini", "[headnodes]\nh.example.org\n")
    assert [str(n) for n in load_site(p).ipv6_prefixes] == ["2000::/3"], "none set anywhere"


def test_custom_service_with_its_port(tmp_path: Path) -> None:
    p = write(tmp_path, "c.yml", """
all:
  children:
    headnodes:
      hosts:
        h.example.org:
          se_services: [xrootd, cmsd]
          se_service_ports: {cmsd: 1213}
          se_service_processes: {cmsd: [cmsd]}
""")
    h = load_site(p).hosts[0]
    assert [(s.name, s.port, s.processes, s.transfer) for s in h.services] == [
        ("xrootd", 1094, ("xrootd",), True), ("cmsd", 1213, ("cmsd",), False)], "custom service"


def test_os_aliases_are_normalised(tmp_path: Path) -> None:
    p = write(tmp_path, "o.ini", "[headnodes]\na.example.org se_os=SL6\nb.example.org se_os=centos7\n"
              "c.example.org se_os=debian12\n")
    assert [h.declared_os for h in load_site(p).hosts] == ["el6", "el7", "debian12"], "aliases"


def test_limit_by_name_ansible_host_and_testinfra_url() -> None:
    path = EXAMPLES / "dpm-site.yml"
    site = load_site(path, limit=["ssh://root@pool07.example.org", "192.0.2.10"])
    assert [h.name for h in site.hosts] == ["dpmhead.example.org", "pool07.example.org"], \
        "inventory order kept, matched by name and by ansible_host"
    site = load_site(path, limit=["paramiko://root@192.0.2.17:22?sudo=true"])
    assert [h.name for h in site.hosts] == ["pool07.example.org"], "url with port and query"


@pytest.mark.parametrize(("spec", "host"), [
    ("pool07.example.org", "pool07.example.org"),
    ("ssh://root@pool07.example.org", "pool07.example.org"),
    ("ssh://root@pool07.example.org:2222", "pool07.example.org"),
    ("ssh://root@[fd42::10]:22", "fd42::10"),
    ("[fd42::10]", "fd42::10"),
    ("ssh://pool07?ssh_config=/x", "pool07"),
])
def test_host_from_spec(spec: str, host: str) -> None:
    assert host_from_spec(spec) == host, spec


def test_ranges_step_letters_and_padding(tmp_path: Path) -> None:
    p = write(tmp_path, "r.ini", "[disknodes]\npool[08:11].x.org\nn[1:5:2].x.org\nr[a:b]n[1:2].x.org\n")
    assert [h.name for h in load_site(p).hosts] == [
        "pool08.x.org", "pool09.x.org", "pool10.x.org", "pool11.x.org", "n1.x.org", "n3.x.org",
        "n5.x.org", "ran1.x.org", "ran2.x.org", "rbn1.x.org", "rbn2.x.org"], "Ansible's ranges"


def test_adhoc_site_from_hosts_option() -> None:
    site = adhoc_site(["ssh://admin@pool07.example.org:2222", "head.example.org"],
                      roles={"head.example.org": "headnode"})
    assert [(h.name, h.role, h.user, h.port, h.role_source) for h in site.hosts] == [
        ("pool07.example.org", None, "admin", 2222, ""),
        ("head.example.org", "headnode", None, None, "--se-role")], \
        "user/port from the url; role from --se-role or (later) detection, never guessed"
    assert site.hosts[0].services == [], "no role: no role-specific services"
    assert [s.name for s in site.hosts[1].services] == ["gsiftp", "xrootd", "https", "srm", "dpns",
                                                        "dpm"], "a given role gets its services"


def test_adhoc_site_bad_input() -> None:
    with pytest.raises(InventoryError, match=r"^--se-role names x.example.org, which is not in "
                       r"--hosts; use one of: a.example.org$"):
        adhoc_site(["a.example.org"], roles={"x.example.org": "disknode"})
    with pytest.raises(InventoryError, match=r"^--hosts: host fd42::10 is an address, not a DNS "
                       r"name; .* ansible_host=fd42::10$"):
        adhoc_site(["ssh://root@[fd42::10]"])


# --------------------------------------------------------------------------- bad input

HEAD = "all:\n  children:\n    headnodes:\n      hosts:\n        h.example.org:\n"


OURS = [
    ("empty.yml", "",
     "{p}: no headnodes or disknodes group; put the SE head node(s) in a group named headnodes "
     "and the disk servers in disknodes (nested groups are fine)"),
    ("nogroups.yml", "all:\n  hosts:\n    h.example.org:\n",
     "{p}: no headnodes or disknodes group; put the SE head node(s) in a group named headnodes "
     "and the disk servers in disknodes (nested groups are fine)"),
    ("nohosts.yml", "all:\n  children:\n    headnodes:\n    disknodes:\n",
     "{p}: the headnodes and disknodes groups have no hosts; add the SE's hosts to them"),
    ("typo.yml", "all:\n  children:\n    headnodes:\n      host:\n        h.example.org:\n",
     "{p}: the headnodes and disknodes groups have no hosts (Ansible: Skipping unexpected key "
     "(host) in group (headnodes), only \"vars\", \"children\" and \"hosts\" are valid); add the "
     "SE's hosts to them"),
    ("sevars.yml", HEAD + "    other:\n      hosts:\n        x.example.org: {se_os: el7}\n",
     "{p}: host x.example.org has se_* variables of its own but is in no SE group (headnodes "
     "or disknodes); add it to one of them or remove its se_* variables"),
    ("flavour.yml", "all:\n  vars: {se_flavour: dmp}\n" + HEAD[5:],
     "{p}: host h.example.org: se_flavour 'dmp' is unknown; use one of: dcache, dpm, eos, "
     "storm, xrootd"),
    ("service.yml", HEAD + "          se_services: [gsiftp, srmv2]\n",
     "{p}: host h.example.org: unknown service 'srmv2'; use one of: cmsd, dcache-gsiftp, dcache-pool, "
     "dcache-srm, dcache-webdav, dcache-xrootd, dpm, dpns, eos-fst, eos-fst-https, eos-https, eos-mq, "
     "gsiftp, https, srm, storm-srm, storm-webdav, storm-webdav-http, xrootd (or give a "
     "site-specific service its port in se_service_ports)"),
    ("port.yml", HEAD + "          se_service_ports: {srm: 84460}\n",
     "{p}: host h.example.org: se_service_ports.srm 84460 is not a TCP port; use a number "
     "1-65535"),
    ("sshport.ini", "[headnodes]\nh.example.org ansible_port=ssh\n",
     "{p}: host h.example.org: ansible_port 'ssh' is not a TCP port; use a number 1-65535"),
    ("range.yml", HEAD + "          se_gridftp_data_range: 25000-20000\n",
     "{p}: host h.example.org: se_gridftp_data_range '25000-20000' is not a port range; write "
     "it as FIRST-LAST within 1-65535, e.g. 20000-25000"),
    ("range2.ini", "[headnodes]\nh.example.org\n[all:vars]\nse_gridftp_data_range=20000\n",
     "{p}: host h.example.org: se_gridftp_data_range 20000 is not a port range; write it as "
     "FIRST-LAST within 1-65535, e.g. 20000-25000"),
    ("both.yml", HEAD + "    disknodes:\n      hosts:\n        h.example.org:\n",
     "{p}: host h.example.org is in both headnodes and disknodes; a host has one role: keep "
     "it in one of the two groups"),
    ("both.ini", "[headnodes]\nh.example.org\n[disknodes]\nh.example.org\n",
     "{p}: host h.example.org is in both headnodes and disknodes; a host has one "
     "role: keep it in one of the two groups"),
    ("cidr.yml", "all:\n  vars: {se_ipv6_prefixes: ['2001:db8::1/64']}\n" + HEAD[5:],
     "{p}: host h.example.org: se_ipv6_prefixes entry '2001:db8::1/64' is not an IPv6 network in "
     "CIDR form (did you mean 2001:db8::/64?); write e.g. 2001:db8:1::/48"),
    ("cidr4.ini", "[headnodes]\nh.example.org\n[all:vars]\nse_ipv6_prefixes=10.0.0.0/8\n",
     "{p}: host h.example.org: se_ipv6_prefixes entry '10.0.0.0/8' is not an IPv6 network in "
     "CIDR form; write e.g. 2001:db8:1::/48"),
    ("os.yml", HEAD + "          se_os: windows\n",
     "{p}: host h.example.org: se_os 'windows' is not an OS family; use el6, el7, el8, el9 "
     "(sl6/sl7/centos7 are accepted aliases) or e.g. debian12, or remove it to detect the OS"),
    ("resolver.yml", "all:\n  vars: {se_resolvers: [dns.example.org]}\n" + HEAD[5:],
     "{p}: host h.example.org: se_resolvers entry 'dns.example.org' is not an IP address; list "
     "the DNS servers' addresses (e.g. [192.0.2.53, 2001:db8::53])"),
    ("timeout.ini", "[headnodes]\nh.example.org se_dns_timeout=soon\n",
     "{p}: host h.example.org: se_dns_timeout 'soon' is not a number of seconds between 0 and "
     "600; write e.g. 3"),
    ("samehost.ini", "[headnodes]\na.x.org ansible_host=192.0.2.1\nb.x.org ansible_host=192.0.2.1\n",
     "{p}: hosts a.x.org and b.x.org have the same ansible_host 192.0.2.1; each SE host needs "
     "its own address"),
    ("ipv6name.ini", "[disknodes]\n[2001:db8::10]:2222\n",
     "{p}: host 2001:db8::10 is an address, not a DNS name; the suite checks the host's DNS "
     "records, so name it by its DNS name and give the address as ansible_host=2001:db8::10"),
    ("dnsname.yml", HEAD.replace("h.example.org", "bad_name.example.org"),
     "{p}: host 'bad_name.example.org' is not a valid DNS name (letters, digits and '-' per "
     "label, labels up to 63 characters); name the host by its DNS name"),
    ("jinja.yml", HEAD + "          se_external_interface: '{{ nic_name }}'\n",
     "{p}: host h.example.org: se_external_interface '{{{{ nic_name }}}}' cannot be rendered as "
     "Ansible would ('nic_name' is undefined); define the variables it uses or write the value "
     "itself"),
    ("become.yml", HEAD + "          ansible_become: true\n          ansible_become_method: su\n",
     "{p}: host h.example.org: ansible_become_method 'su' is not supported (testinfra becomes "
     "root with sudo); use sudo"),
    ("winrm.yml", HEAD + "          ansible_connection: winrm\n",
     "{p}: host h.example.org: ansible_connection 'winrm' cannot be used by testinfra; use ssh "
     "(or local) for the SE hosts"),
]


@pytest.mark.parametrize(("name", "text", "expected"), OURS)
def test_bad_inventory_one_line_naming_file_key_and_fix(tmp_path: Path, name: str, text: str,
                                                       expected: str) -> None:
    p = write(tmp_path, name, text)
    assert error_of(p) == expected.format(p=p), f"message for {name}"


# Ansible's own parse errors: our frame (file, plugin, line, fix) around Ansible's words.
PARSE = [
    ("syntax.yml", "all:\n  children:\n    headnodes: [\n",
     "{p}: yaml inventory: line 4, column 1: YAML syntax error: "),
    ("tab.yml", "all:\n\tchildren: {}\n",
     "{p}: yaml inventory: line 2, column 1: YAML syntax error: "),
    ("list.yml", "- headnodes\n- disknodes\n", "{p}: yaml inventory: "),
    ("kv.ini", "[headnodes]\nh.example.org se_os\n", "{p}: ini inventory: line 2: "),
    ("quote.ini", "[headnodes]\nh.example.org se_os='el7\n", "{p}: ini inventory: line 2: "),
    ("vars.ini", "[all:vars]\nse_flavour\n[headnodes]\nh\n", "{p}: ini inventory: line 2: "),
    ("children.ini", "[disknodes:children]\nrack1 rack2\n", "{p}: ini inventory: line 2: "),
    ("cycle.ini", "[a:children]\nb\n[b:children]\na\n[headnodes]\nh\n", "{p}: ini inventory: "),
    ("hostlist.yml", "all:\n  children:\n    headnodes:\n      hosts: [h.example.org]\n",
     "{p}: yaml inventory: "),
]


@pytest.mark.parametrize(("name", "text", "prefix"), PARSE)
def test_ansible_parse_error_one_line_with_position_and_fix(tmp_path: Path, name: str, text: str,
                                                            prefix: str) -> None:
    p = write(tmp_path, name, text)
    msg = error_of(p)
    assert msg.startswith(prefix.format(p=p)), f"{name}: file, plugin and position first: {msg}"
    assert msg.endswith(f"; fix it there (ansible-inventory -i {p} --list shows what Ansible "
                        "reads)"), f"{name}: what to do: {msg}"


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.yml"
    assert error_of(p) == (f"{p}: inventory not found; give the path of your site's inventory "
                           "(a file or a directory, see inventory/README.md)"), "missing file"


def test_unknown_host_in_limit() -> None:
    p = EXAMPLES / "dpm-site.yml"
    assert error_of(p, limit=["ssh://root@pool99.example.org"]) == (
        f"{p}: --hosts names pool99.example.org, which is not in the inventory; use one of: "
        "dpmhead.example.org, pool01.example.org, pool02.example.org, pool07.example.org"
    ), "unknown --hosts entry lists the inventory's hosts"


def test_inventory_error_is_always_one_line() -> None:
    assert str(InventoryError("a\n  b\tc")) == "a b c", "newlines collapsed"
