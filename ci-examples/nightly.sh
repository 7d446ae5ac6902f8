#!/usr/bin/env bash
# Nightly se-dualstack run with a comparison against the previous night; used by the GitLab CI,
# systemd and cron examples next to this file (see docs/nightly.md).
#
#   SE_INVENTORY=inventory/mysite.yml ci-examples/nightly.sh [extra pytest args...]
#
# Environment:
#   SE_INVENTORY   the site's inventory (required)
#   SE_SITE        the site name the reports are named by (se_site; default: inventory file stem)
#   SE_SUITE_DIR   checkout of the suite with its .venv (default: this script's parent directory)
#   SE_REPORTS     directory for the reports, result files and comparisons (default: reports/)
#   SE_PARALLEL    pytest-xdist workers, e.g. "auto" (default: serial)
#   SE_KEEP_DAYS   delete reports older than this many days (default 30; 0 keeps everything)
#   SE_WAIVERS     waiver file (optional)
#   X509_USER_PROXY, X509_CERT_DIR   credentials for the transfer checks
#
# Exit status (what to alert on):
#   0   every check passed
#   1   regressions: a check passes last night and fails now (or checks fail on the first night)
#   2   the suite could not run (bad inventory, no credentials, interrupted, internal error)
#   10  checks fail, but the same ones as last night: nothing new
set -uo pipefail

: "${SE_INVENTORY:?set SE_INVENTORY to the inventory file of the site}"
SE_SUITE_DIR="${SE_SUITE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
SE_SITE="${SE_SITE:-$(basename "${SE_INVENTORY%.*}")}"
SE_KEEP_DAYS="${SE_KEEP_DAYS:-30}"
inventory="$(readlink -f "$SE_INVENTORY")"
cd "$SE_SUITE_DIR" || exit 2
PY="$SE_SUITE_DIR/.venv/bin/python"
reports="$(mkdir -p "${SE_REPORTS:-$SE_SUITE_DIR/reports}" && cd "${SE_REPORTS:-$SE_SUITE_DIR/reports}" && pwd)"
stem="$SE_SITE-$(date -u +%Y%m%dT%H%M%SZ)"   # the result file and comparison reuse this stem

# 1. Last night's result file is the baseline (read by the run before it replaces "latest").
latest="$reports/$SE_SITE-latest.json"
baseline=""
if [ -f "$latest" ]; then
    baseline="$reports/.baseline-$SE_SITE.json"
    cp -f "$latest" "$baseline"
fi

# 2. The run. Options as --opt=value: a path given as "--opt value" can be taken for a test path.
args=(-p no:cacheprovider "--inventory=$inventory" -rfE "--html=$reports/$stem.html"
      --self-contained-html "--junitxml=$reports/$stem.xml")
[ -n "$baseline" ] && args+=("--baseline=$baseline")
[ -n "${SE_WAIVERS:-}" ] && args+=("--waivers=$(readlink -f "$SE_WAIVERS")")
[ -n "${SE_PARALLEL:-}" ] && args+=(-n "$SE_PARALLEL" --dist loadgroup)
"$PY" -m pytest "${args[@]}" "$@"
rc=$?
[ -f "$reports/$stem.html" ] && ln -sfn "$stem.html" "$reports/$SE_SITE-latest.html"

if [ "$SE_KEEP_DAYS" -gt 0 ]; then
    find "$reports" -maxdepth 1 -type f -name "$SE_SITE-*" -mtime "+$SE_KEEP_DAYS" -delete
fi

if [ "$rc" -gt 1 ]; then
    echo "nightly: the suite could not run (exit $rc: 2 interrupted, 3 internal error," \
         "4 usage error in inventory/credentials/waivers, 5 no tests); see the log above" >&2
    exit 2
fi

# 3. The gate: anything newly failing since last night?
if [ -z "$baseline" ]; then
    echo "nightly: first run for $SE_SITE (no baseline): exit $rc"
    exit "$rc"
fi
"$PY" -m se_dualstack.compare "$baseline" "$latest" -q
cmp_rc=$?
[ -f "$reports/$stem.html" ] && ln -sfn "$stem.html" "$reports/$SE_SITE-latest.html"
if [ "$cmp_rc" -eq 1 ]; then
    echo "nightly: regressions since the previous night; see $reports/$stem-compare.txt" >&2
    exit 1
elif [ "$cmp_rc" -ne 0 ]; then
    echo "nightly: the comparison failed (exit $cmp_rc)" >&2
    exit 2
elif [ "$rc" -ne 0 ]; then
    echo "nightly: checks fail, but none newly since the previous night"
    exit 10
fi
exit 0
