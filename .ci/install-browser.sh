#!/usr/bin/env bash
# Installs Debian's Chromium for the `browser` tests (report page in headless Chromium,
# driven by Playwright with executable_path=/usr/bin/chromium). Idempotent: does nothing
# when the browser is already there. Playwright's own browser download is never used.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

# shellcheck source=apt.sh
. "$(dirname "$0")/apt.sh"
apt_install chromium
/usr/bin/chromium --version
