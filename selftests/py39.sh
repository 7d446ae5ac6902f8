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

# bullseye_download WORK PACKAGE...: Debian 11's .debs into WORK/debs, through apt with lists,
# cache and dpkg status of its own under WORK (the system's are never read or written).
bullseye_download() {
  local work=$1; shift
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
  : > "$work/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" \
    > "$work/sources.list"
  local apt=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
             -o "Dir::State::status=$work/status" -o "APT::Sandbox::User=root")
  apt-get "${apt[@]}" -q update
  (cd "$work/debs" && apt-get "${apt[@]}" -q download "$@")
}

if ! LD_LIBRARY_PATH="$lib" "$py" -c "import ssl, ctypes, venv" 2>/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "py39: need root for apt-get (private lists)" >&2; exit 1; }
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/root"
  # shellcheck disable=SC2086
  bullseye_download "$work" $packages
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

# --- optional: gfal2's Python bindings for 3.9 (PY39_GFAL2=1), for the transfers under 3.9.
# Debian 11 has no python3-gfal2 (gfal2-python entered Debian with 12), so they are built: PyPI's
# gfal2-python 1.12.0 (the release Debian 12's python3-gfal2 is, and the last that compiles
# against Debian 12's gfal2 2.21) with Debian 12's gfal2 and Boost headers, and Debian 11's
# Python 3.9 headers and Boost.Python for 3.9 (both Boost 1.74), unpacked into the private tree.
[ "${PY39_GFAL2:-0}" = 1 ] || exit 0
if ! "$venv/bin/python" -c "import gfal2" 2>/dev/null; then
  build_deps="cmake g++ pkg-config libgfal2-dev libglib2.0-dev libboost1.74-dev"
  missing=$(for p in $build_deps; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
  # shellcheck disable=SC2086
  [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
  work=$(mktemp -d "$cache/.gfal2.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src"
  bullseye_download "$work" libpython3.9-dev python3.9-dev libboost-python1.74-dev libboost-python1.74.0
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$root"; done
  LD_LIBRARY_PATH= ${PIP:-.venv/bin/python -m pip} download -q --disable-pip-version-check --no-deps \
    --no-binary=:all: -d "$work/src" "gfal2-python==1.12.0"
  tar -xzf "$work"/src/gfal2-python-1.12.0.tar.gz -C "$work/src"
  mkdir "$work/build"
  (cd "$work/build" && PATH=/usr/sbin:/usr/bin:/sbin:/bin cmake -DSKIP_TESTS=TRUE \
     -DPYTHON_EXECUTABLE_3="$py" -DPYTHON_INCLUDE_PATH_3.9="$root/usr/include/python3.9" \
     -DPYTHON_SITE_PACKAGES_3.9="$work/site" -DBoost_LIBRARYDIR="$lib" \
     -DCMAKE_CXX_FLAGS="-I$root/usr/include -w" "$work/src/gfal2-python-1.12.0" >/dev/null \
   && make -j2 >/dev/null)
  site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  cp "$work/build/src/python3/gfal2.so" "$site/"
fi
"$venv/bin/python" -c "import gfal2; print('py39: gfal2', gfal2.__version__, 'bindings for Python 3.9')"
