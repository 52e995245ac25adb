#!/usr/bin/env bash
# Installs the PostgreSQL and Redis servers from the system's packages when they are missing, and
# Debian's chromium for the console's browser tests (Playwright drives it; it never downloads a browser).
# Tests start their own throwaway servers; nothing is left running by this script.
set -euo pipefail

have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
have_redis() { command -v redis-server >/dev/null 2>&1; }
have_chromium() { [ -x /usr/bin/chromium ]; }

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
have_chromium || missing+=(chromium)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
  echo "install-services: need ${missing[*]}; run as root or install them yourself" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-services: no apt-get here; install ${missing[*]} with your package manager" >&2
  exit 1
fi
echo "install-services: installing ${missing[*]}" >&2
# The tests make their own clusters: keep Debian from creating (and starting) a default one.
"${sudo[@]}" mkdir -p /etc/postgresql-common
grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
  echo 'create_main_cluster = false' | "${sudo[@]}" tee -a /etc/postgresql-common/createcluster.conf >/dev/null
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# Keep our createcluster.conf if the package ships its own (no conffile prompt without a tty).
"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
have_postgres && have_redis && have_chromium
