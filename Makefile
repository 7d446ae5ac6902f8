# Two commands do everything on a fresh Debian 12 machine (as root, system packages included):
#   make demo   bring up the embedded testbed site, run the suite from its client host, write the
#               HTML report under reports/, tear the site down; SITE=dcache|eos|xrootd|storm (or
#               any testbed/sites/<name>.yml, or a path) picks the storage system's site
#   make test   the project's own tests (lint, unit tests, the suite against testbed sites)
#   make docs   rewrite the documents' generated tables (checks, faults, variables) from the data
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
TESTBED := $(PY) -m testbed
DEMO_NAME ?= demo
SITE ?= testbed/sites/default.yml
# Python 3.9 (EL9's /usr/bin/python3): Debian 11's, unpacked once into a private directory of
# the checkout (see selftests/py39.sh; nothing outside the checkout), and a venv of its own with
# the suite installed as a site installs it.
PY39_CACHE ?= $(CURDIR)/.py39
VENV39 ?= .venv39
PY39_ENV := LD_LIBRARY_PATH=$(PY39_CACHE)/root/usr/lib/x86_64-linux-gnu
PY39_NAME ?= py39$(shell printf '%s' "$${SE6_TB_TAG:-}" | tr -cd 'a-z0-9' | cut -c1-3)
# The oldest Python the code must run on, checked by reading it (vermin) before running it.
VERMIN := $(VENV)/bin/vermin -q -t=3.9- --violations --no-tips --backport argparse \
  --backport configparser --backport dataclasses --backport importlib --backport ipaddress \
  --backport statistics --backport typing

# Debian 12 packages: gfal2 and its plugins + bindings (as on a grid UI), the testbed's real
# servers (XRootD, GridFTP, sshd, dnsmasq) and tools (iptables, iproute2, openssl); gcc builds
# the small LD_PRELOAD shim that forces one address family in the gfal2 worker; the SciTokens
# plugin and PyJWT give the testbed WLCG tokens (its issuer mints, every XRootD validates);
# unbound (dns64 module) and tayga are the DNS64 and NAT64 of the IPv6-only sites (ipv6only*.yml);
# python3-xrootd is XRootD's client the redirect-chain check (SE6-XFER-03) traces root:// with.
# cmake, g++ and the -dev packages build gfal2's bindings for the Python 3.9 of `make py39`.
# nginx with its stream module fronts the StoRM site's WebDAV servers (testbed/systems/).
# prometheus-node-exporter serves the Prometheus textfile in selftests/integration/test_monitoring.py.
APT_PACKAGES := gfal2 gfal2-plugin-gridftp gfal2-plugin-xrootd gfal2-plugin-http gfal2-plugin-file \
  python3-gfal2 python3-yaml python3-venv xrootd-server xrootd-client python3-xrootd \
  globus-gridftp-server-progs globus-proxy-utils globus-gass-copy-progs \
  openssh-server openssh-client dnsmasq-base iptables iproute2 openssl curl procps \
  gfal2-util-scripts python-is-python3 python3-cryptography gcc libc6-dev \
  xrootd-scitokens-plugins python3-jwt \
  firewalld nftables dbus unbound tayga \
  cmake g++ pkg-config libgfal2-dev libglib2.0-dev libboost1.74-dev \
  nginx libnginx-mod-stream prometheus-node-exporter

.PHONY: setup system-packages venv demo test lint docs unit integration bench clean py39 test-py39

setup: system-packages venv

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make: need root to install system packages:$$missing" >&2; exit 1; fi; \
	  echo "installing system packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	# the suite itself, as a site installs it (pytest11 entry point, se-dualstack command);
	# editable, so work on it needs no reinstall; the distribution's setuptools builds it
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -c "import gfal2, testinfra, dns.resolver, pytest_html, xdist, yaml, XRootD.client"
	touch $@

demo: setup
	@mkdir -p reports
	$(TESTBED) --name $(DEMO_NAME) up $(SITE)
	@trap '$(TESTBED) --name $(DEMO_NAME) down' EXIT; \
	rc=0; $(TESTBED) --name $(DEMO_NAME) run -- $(PY) -m pytest -p no:cacheprovider \
	  --bearer-token-file=/run/se-testbed/$(DEMO_NAME)/tokens/valid.jwt $(PYTEST_ARGS) || rc=$$?; \
	echo; echo "report: $$(readlink -f "$$(ls -t reports/*.html | head -1)")"; \
	exit $$rc

test: setup lint unit test-py39 integration

lint:
	$(VENV)/bin/ruff check .
	$(PY) docs/generate.py --check
	$(VERMIN) se_dualstack tests testbed selftests bench conftest.py

# The README's check table and fault list, inventory/README.md's variable tables and
# docs/testbed.md's fault table, from checks.yml, variables.yml (+ knowledge.yml) and faults.yml.
docs: venv
	$(PY) docs/generate.py

# The project's own tests keep their temporary files in a directory of their own, removed when
# they end (pytest would keep its last three under /tmp/pytest-of-$USER): a CI run leaves nothing.
SELFTEST_TMP = t=$$(mktemp -d /tmp/se6-selftests.XXXXXX); trap 'rm -rf "$$t"' EXIT;

unit:
	@$(SELFTEST_TMP) $(PY) -m pytest -p no:cacheprovider -q --basetemp="$$t" selftests/unit

# A selftest fails at once, except when its failure is one of three rare misbehaviours of the
# testbed's healthy servers that the suite rightly reports (docs/testbed.md, "Gotchas for
# transfer code"): a transfer step that got no answer at all ("no answer within"); a login
# XRootD 5.5.3 dropped, turned into a redirect loop ("Redirect limit has been reached"); a root
# third-party copy whose pulling xrdcp 5.5.3 crashed without a word ("Copy failed with return
# code"). Such a test runs once more, and the summary line counts it as "rerun".
RERUN_SERVER_HICCUP = --reruns 1 --only-rerun "no answer within" \
  --only-rerun "Redirect limit has been reached" --only-rerun "Copy failed with return code"

integration:
	@$(SELFTEST_TMP) $(PY) -m pytest -p no:cacheprovider -q --durations=15 $(RERUN_SERVER_HICCUP) --basetemp="$$t" selftests/integration

# A venv on a real Python 3.9 with the suite installed by `pip install .` and gfal2's bindings
# built for it (idempotent; the interpreter is downloaded once, from Debian 11 with private apt
# lists, into PY39_CACHE; the bindings are built once into the venv).
py39: setup
	PY39_GFAL2=1 PIP="$(PY) -m pip" bash selftests/py39.sh $(PY39_CACHE) $(VENV39)

# Under Python 3.9: se-dualstack site, the unit tests, and the whole suite against a testbed
# site (host checks, X.509 and token transfers, redirect chains). Debian has no XRootD bindings
# for 3.9 (Debian 11 has no python3-xrootd matching Debian 12's servers), so the redirect
# tracer's XRootD client process runs under /usr/bin/python3 (SE6_XROOTD_PYTHON); on EL9 EPEL's
# python3-xrootd is for the suite's own 3.9 and nothing needs setting.
test-py39: py39
	$(PY39_ENV) $(VENV39)/bin/se-dualstack site --inventory inventory/dpm-site.ini > /dev/null
	$(PY39_ENV) $(VENV39)/bin/python -m pytest -p no:cacheprovider -q selftests/unit
	$(TESTBED) --name $(PY39_NAME) up > /dev/null
	@trap '$(TESTBED) --name $(PY39_NAME) down > /dev/null' EXIT; \
	$(TESTBED) --name $(PY39_NAME) run -- env $(PY39_ENV) SE6_XROOTD_PYTHON=/usr/bin/python3 \
	  $(VENV39)/bin/pytest -p no:cacheprovider \
	  -q --results-dir=$(CURDIR)/reports/py39 \
	  --bearer-token-file=/run/se-testbed/$(PY39_NAME)/tokens/valid.jwt

bench: setup
	$(PY) bench/bench_testbed.py
	$(PY) bench/bench_transfers.py
	$(PY) bench/bench_parallel.py
	$(PY) bench/bench_cost.py
	$(PY) bench/bench_site_ssh.py

clean:
	-for n in $$(ip netns list 2>/dev/null | awk '{print $$1}' | sed -n 's/-site$$//p'); do $(TESTBED) --name $$n down; done
	rm -rf reports/*.html reports/*.xml reports/*.json
