#!/bin/bash
# A real Python 3.9 (EL9's /usr/bin/python3 is 3.9) beside the system's, for `make py39`.
#
# Debian 11's python3.9 comes from the same Debian archive: apt with private lists (bullseye
# main only; the system's sources, lists and dpkg status are never read or written) downloads
# the packages, `dpkg -x` unpacks them into one private directory, and the interpreter runs
# from there with LD_LIBRARY_PATH at its libraries (libssl1.1, libffi7). Nothing of the system's
# Python is touched. Then a venv made as the README's EL9 recipe makes it (--system-site-packages,
# whose "system" here is the private tree), pip from a wheel, and `pip install .` of the checkout.
#
#   selftests/py39.sh CACHE_DIR VENV_DIR
# Idempotent: the unpacked tree is kept in CACHE_DIR (made once, atomically), the venv is made
# once, and the suite is reinstalled from the checkout on every call (it changes).
set -euo pipefail
cache=${1:?cache directory}
venv=${2:?venv directory}
root="$cache/root"
lib="$root/usr/lib/x86_64-linux-gnu"
py="$root/usr/bin/python3.9"
packages="python3.9-minimal libpython3.9-minimal libpython3.9-stdlib python3.9 libpython3.9
  python3-distutils python3-lib2to3 libssl1.1 libffi7"

if ! LD_LIBRARY_PATH="$lib" "$py" -c "import ssl, ctypes, venv" 2>/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "py39: need root for apt-get (private lists)" >&2; exit 1; }
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
  : > "$work/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" \
    > "$work/sources.list"
  apt=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
       -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
       -o "Dir::State::status=$work/status" -o "APT::Sandbox::User=root")
  apt-get "${apt[@]}" -q update
  # shellcheck disable=SC2086
  (cd "$work/debs" && apt-get "${apt[@]}" -q download $packages)
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/root"; done
  LD_LIBRARY_PATH="$work/root/usr/lib/x86_64-linux-gnu" "$work/root/usr/bin/python3.9" \
    -c "import ssl, ctypes, venv, sys; print('py39: unpacked', sys.version.split()[0])"
  rm -rf "$root" && mv "$work/root" "$root"
fi

export LD_LIBRARY_PATH="$lib"
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$venv"
  "$py" -m venv --without-pip --system-site-packages "$venv"
  wheels=$(mktemp -d)
  # any pip downloads it (PIP: the project's own venv's, by default)
  LD_LIBRARY_PATH= ${PIP:-.venv/bin/python -m pip} download -q --disable-pip-version-check --no-deps \
    --only-binary=:all: --python-version 3.9 -d "$wheels" pip
  whl=$(ls "$wheels"/pip-*.whl)
  "$venv/bin/python" "$whl/pip" install -q --disable-pip-version-check "$whl"
  rm -rf "$wheels"
fi
# The suite as a site installs it (not editable), with the dependencies pip picks for 3.9.
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" --force-reinstall --no-deps . 2>&1 | { grep -v "^WARNING: Location" || true; }
"${pip[@]}" . 2>&1 | { grep -v "^WARNING: Location" || true; }
rm -rf build se_dualstack.egg-info
"$venv/bin/python" - <<'EOF'
import importlib.metadata as md, sys
print("py39:", sys.version.split()[0], ", ".join(f"{p} {md.version(p)}" for p in
      ("pytest", "ansible-core", "dnspython", "pytest-testinfra", "PyJWT", "se-dualstack")))
EOF
