#!/usr/bin/env bash
# Installs `telemetrygen` (OpenTelemetry Collector contrib, pinned) with `go install` into
# .tools/bin/ of the checkout, unless that exact version is there already, and prints its path
# as the last line. Used by `./tasks bench` (benchmarks/telemetrygen_sink.py) and `./tasks load`.
# Needs Go >= 1.24 on PATH (Debian's golang-go is older than the module requires).
set -euo pipefail

VERSION=v0.161.0
MODULE=github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${TELEMETRYGEN_BIN_DIR:-$ROOT/.tools/bin}
STAMP="$BIN_DIR/.telemetrygen-$VERSION"

if [ -x "$BIN_DIR/telemetrygen" ] && [ -f "$STAMP" ]; then
  echo "$BIN_DIR/telemetrygen"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-telemetrygen: Go is not on PATH; install Go >= 1.24 (https://go.dev/doc/install) and rerun" >&2
  exit 2
fi
mkdir -p "$BIN_DIR"
GOBIN="$BIN_DIR" go install "$MODULE@$VERSION" >&2
rm -f "$BIN_DIR"/.telemetrygen-*
touch "$STAMP"
echo "$BIN_DIR/telemetrygen"
