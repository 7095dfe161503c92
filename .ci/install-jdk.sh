#!/usr/bin/env bash
# Installs a Java runtime for the Spark engine (`spark` tests) from Debian's packages when no
# Java 17+ is on PATH. Idempotent. The Delta jars themselves are fetched by delta-spark on the
# first Spark start, not here.
set -euo pipefail

if command -v java >/dev/null 2>&1; then
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [ "${major:-0}" -ge 17 ] 2>/dev/null; then
    echo "java already installed: $major"
    exit 0
  fi
fi

# shellcheck source=apt.sh
. "$(dirname "$0")/apt.sh"
apt_install openjdk-17-jre-headless
java -version
