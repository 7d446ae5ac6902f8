# Two commands do everything on a fresh Debian 12 machine (as root, system packages included):
#   make demo   bring up the embedded testbed site, run the suite from its client host, write the
#               HTML report under reports/, tear the site down
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

# Debian 12 packages: gfal2 and its plugins + bindings (as on a grid UI), the testbed's real
# servers (XRootD, GridFTP, sshd, dnsmasq) and tools (iptables, iproute2, openssl); gcc builds
# the small LD_PRELOAD shim that forces one address family in the gfal2 worker; the SciTokens
# plugin and PyJWT give the testbed WLCG tokens (its issuer mints, every XRootD validates);
# unbound (dns64 module) and tayga are the DNS64 and NAT64 of the IPv6-only sites (ipv6only*.yml);
# prometheus-node-exporter serves the Prometheus textfile in selftests/integration/test_monitoring.py.
APT_PACKAGES := gfal2 gfal2-plugin-gridftp gfal2-plugin-xrootd gfal2-plugin-http gfal2-plugin-file \
  python3-gfal2 python3-yaml python3-venv xrootd-server xrootd-client \
  globus-gridftp-server-progs globus-proxy-utils globus-gass-copy-progs \
  openssh-server openssh-client dnsmasq-base iptables iproute2 openssl curl procps \
  gfal2-util-scripts python-is-python3 python3-cryptography gcc libc6-dev \
  xrootd-scitokens-plugins python3-jwt \
  firewalld nftables dbus unbound tayga prometheus-node-exporter

.PHONY: setup system-packages venv demo test lint docs unit integration bench clean

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
	$(PY) -c "import gfal2, testinfra, dns.resolver, pytest_html, xdist, yaml"
	touch $@

demo: setup
	@mkdir -p reports
	$(TESTBED) --name $(DEMO_NAME) up $(SITE)
	@trap '$(TESTBED) --name $(DEMO_NAME) down' EXIT; \
	rc=0; $(TESTBED) --name $(DEMO_NAME) run -- $(PY) -m pytest -p no:cacheprovider \
	  --bearer-token-file=/run/se-testbed/$(DEMO_NAME)/tokens/valid.jwt $(PYTEST_ARGS) || rc=$$?; \
	echo; echo "report: $$(readlink -f "$$(ls -t reports/*.html | head -1)")"; \
	exit $$rc

test: setup lint unit integration

lint:
	$(VENV)/bin/ruff check .
	$(PY) docs/generate.py --check

# The README's check table and fault list, inventory/README.md's variable tables and
# docs/testbed.md's fault table, from checks.yml, variables.yml (+ knowledge.yml) and faults.yml.
docs: venv
	$(PY) docs/generate.py

unit:
	$(PY) -m pytest -p no:cacheprovider -q selftests/unit

integration:
	$(PY) -m pytest -p no:cacheprovider -q selftests/integration

bench: setup
	$(PY) bench/bench_testbed.py
	$(PY) bench/bench_transfers.py
	$(PY) bench/bench_parallel.py
	$(PY) bench/bench_cost.py

clean:
	-for n in $$(ip netns list 2>/dev/null | awk '{print $$1}' | sed -n 's/-site$$//p'); do $(TESTBED) --name $$n down; done
	rm -rf reports/*.html reports/*.xml reports/*.json
