#!/usr/bin/env bash
# Installs the Debian packages the full test suite uses (PostgreSQL server, Chromium, OpenSSL CLI) when missing.
# Best effort: without root or apt the tests that need them print a clear skip line instead.
set -u
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
{ command -v postgres >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; } || need+=(postgresql)
{ command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; } || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "${ERX_SKIP_SYSTEM_DEPS:-0}" = 1 ]; then
  echo "system deps: skipped by ERX_SKIP_SYSTEM_DEPS (missing: ${need[*]})"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system deps: cannot install ${need[*]} (needs root and apt-get); the tests that need them will skip"
  exit 0
fi
echo "system deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "system deps: apt-get install ${need[*]} failed; the tests that need them will skip"
exit 0
