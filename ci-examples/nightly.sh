#!/usr/bin/env bash
# Nightly se-dualstack run with a comparison against the previous night; used by the GitLab CI,
# systemd and cron examples next to this file (see docs/nightly.md).
#
#   SE_INVENTORY=inventory/mysite.yml ci-examples/nightly.sh [extra pytest args...]
#
# The suite names every file after the site (se_site in the inventory: one place), so this script
# never names the site itself: the run writes reports/<site>-<UTC start>.{html,xml,json} and
# replaces reports/<site>-latest.* (the next night's baseline); extra args that narrow the
# selection (-m, -k, --hosts, a test path...) make a run of its own, compared with the previous
# run of the same selection (reports/<site>-<selection>-latest.json), never with the nights.
#
# Environment:
#   SE_INVENTORY   the site's inventory (required)
#   SE_SUITE_DIR   checkout of the suite with its .venv (default: this script's parent directory)
#   SE_REPORTS     directory for the reports, result files and comparisons (default: reports/)
#   SE_PARALLEL    pytest-xdist workers, e.g. "auto" (default: serial)
#   SE_KEEP_DAYS   delete reports older than this many days (default 30; 0 keeps everything)
#   SE_WAIVERS     waiver file (optional)
#   SE_PROM_FILE   also write the Prometheus textfile here, e.g. for node_exporter's
#                  --collector.textfile.directory (optional)
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
SE_KEEP_DAYS="${SE_KEEP_DAYS:-30}"
inventory="$(readlink -f "$SE_INVENTORY")"
cd "$SE_SUITE_DIR" || exit 2
PY="$SE_SUITE_DIR/.venv/bin/python"
reports="$(mkdir -p "${SE_REPORTS:-$SE_SUITE_DIR/reports}" && cd "${SE_REPORTS:-$SE_SUITE_DIR/reports}" && pwd)"
marker="$(mktemp "$reports/.nightly-start.XXXXXX")"   # the result files newer than this are tonight's
trap 'rm -f "$marker"' EXIT

# 1. The run. --baseline=DIR: the suite reads the previous run of this site and selection from
#    DIR before it replaces it, and compares. Options as --opt=value: a path given as
#    "--opt value" can be taken for a test path.
args=(-p no:cacheprovider "--inventory=$inventory" -rfE "--results-dir=$reports"
      "--baseline=$reports")
[ -n "${SE_WAIVERS:-}" ] && args+=("--waivers=$(readlink -f "$SE_WAIVERS")")
[ -n "${SE_PARALLEL:-}" ] && args+=(-n "$SE_PARALLEL" --dist loadgroup)
"$PY" -m pytest "${args[@]}" "$@"
rc=$?

result="$(find "$reports" -maxdepth 1 -name '*.json' ! -name '*-latest.json' ! -name '.*' \
          -newer "$marker" | sort | tail -1)"
if [ "$rc" -gt 1 ] || [ -z "$result" ]; then
    echo "nightly: the suite could not run (exit $rc: 2 interrupted, 3 internal error," \
         "4 usage error in inventory/credentials/waivers, 5 no tests); see the log above" >&2
    exit 2
fi
# What the suite found: the site it named the files after, and the regressions since its baseline.
{ read -r regressions; read -r compared; read -r site; } < <("$PY" -c '
import sys
from se_dualstack.reporting.resultfile import read
doc = read(sys.argv[1])
b = doc.baseline or {}
print(b.get("regressions", "none"), b.get("report_text") or "-", doc.site, sep="\n")' "$result")

# 2. The history page over the nights, and the Prometheus textfile.
"$PY" -m se_dualstack history "$reports" --site "$site" || echo "nightly: no history page" >&2
if [ -n "${SE_PROM_FILE:-}" ]; then
    "$PY" -m se_dualstack prometheus --reports "$reports" --site "$site" -o "$SE_PROM_FILE" \
        || echo "nightly: no Prometheus file" >&2
fi
if [ "$SE_KEEP_DAYS" -gt 0 ]; then
    find "$reports" -maxdepth 1 -type f ! -name '*-latest.*' ! -name '*-history.html' \
         -mtime "+$SE_KEEP_DAYS" -delete
fi

# 3. The gate: anything newly failing since last night?
if [ "$regressions" = "none" ]; then
    echo "nightly: first run for $site in $reports (no baseline): exit $rc"
    exit "$rc"
elif [ "$regressions" -gt 0 ]; then
    echo "nightly: $regressions regressions since the previous night; see $compared" >&2
    exit 1
elif [ "$rc" -ne 0 ]; then
    echo "nightly: checks fail, but none newly since the previous night"
    exit 10
fi
exit 0
