#!/usr/bin/env bash
# Chart checks (the chart step of `make test`): the Helm chart rendered and linted by the real
# Helm engine, every object validated against the Kubernetes 1.30 and 1.37 API schemas, the
# values schema, the committed manifests and dashboard against the chart, the RBAC against
# `vramgate cluster rbac`, and the dashboard and alerts against a real Prometheus scraping the
# real binary, which watches a fake Kubernetes API server (tests/chart/fake_apiserver.py,
# 127.0.0.1 only) for --cluster and --config-map. kubectl, when installed, checks the fake too.
#
#   bash scripts/chart-check.sh                     install what is missing, then pytest tests/chart
#   bash scripts/chart-check.sh --update-manifests  regenerate deploy/manifests/vramgate.yaml and
#                                                   the chart's copy of dashboards/vramgate.json
#   bash scripts/chart-check.sh -- -k prometheus    extra arguments after -- go to pytest
#
# Installs on a fresh Debian machine (as root): python3-venv, openssl and prometheus (which
# brings promtool) with apt-get; the pinned Python tools of tests/chart/requirements.txt into
# .venv; and the release binary (cargo build --release --locked --bin vramgate, a no-op when it
# is up to date). VRAMGATE_BIN=/path/to/vramgate uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
REQS=tests/chart/requirements.txt
update=0
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --update-manifests) update=1 ;;
    --) shift; pytest_args=("$@"); break ;;
    *) echo "usage: $0 [--update-manifests] [-- PYTEST_ARGS...]" >&2; exit 2 ;;
  esac
  shift
done

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "chart-check: missing $*; install them (apt-get install $*) or run as root" >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  echo "chart-check: apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---- Python tools ----------------------------------------------------------------------------
command -v python3 >/dev/null || apt_install python3 python3-venv
if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
fi
stamp="$VENV/.chart-requirements"
if ! cmp -s "$REQS" "$stamp"; then
  echo "chart-check: installing $REQS into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$stamp"
fi

if [ "$update" = 1 ]; then
  cp dashboards/vramgate.json charts/vramgate/dashboards/vramgate.json
  echo "copied dashboards/vramgate.json to charts/vramgate/dashboards/"
  exec "$VENV/bin/python" tests/chart/chartlib.py --write-manifests
fi

# ---- Debian tools ----------------------------------------------------------------------------
missing=()
{ command -v prometheus && command -v promtool; } >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# ---- the binary ------------------------------------------------------------------------------
if [ -z "${VRAMGATE_BIN:-}" ]; then
  ${CARGO:-cargo} build --release --locked --bin vramgate
  export VRAMGATE_BIN="$PWD/target/release/vramgate"
fi

exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/chart "${pytest_args[@]}"
