#!/usr/bin/env bash
# Make sure a headless-capable Chromium is available for the browser tests and
# print its path on stdout (nothing else goes to stdout).
#
# The tests drive Debian's own `chromium` package through Playwright with an
# explicit executable path; no browser is ever downloaded by Playwright.
#
#   scripts/browser.sh      install chromium with apt-get when missing (as root), print its path
#
# Exit status 0 with the path printed when a browser is available. Otherwise a
# message on stderr and exit 1 (the caller decides whether that is fatal; the
# pytest fixture fails under CI=true and skips with that message elsewhere).
# Set CHROMIUM=/path/to/chromium to use another build.
set -u

log() { echo "browser: $*" >&2; }

find_browser() {
    local candidate
    for candidate in "${CHROMIUM:-}" /usr/bin/chromium "$(command -v chromium 2>/dev/null)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if path=$(find_browser); then
    echo "$path"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    log "chromium is missing; install it with 'sudo apt-get install -y chromium' (Debian's package) or set CHROMIUM=/path/to/chromium"
    exit 1
fi

log "installing Debian's chromium package with apt-get (once; takes a minute)"
export DEBIAN_FRONTEND=noninteractive
# Serialise with other callers (parallel pytest runs) so two apt-gets never race.
exec 9>/tmp/channels-browser-install.lock
flock 9
if path=$(find_browser); then
    echo "$path"
    exit 0
fi
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    log "apt-get install chromium failed; install it by hand (apt-get install -y chromium)"
    exit 1
fi
if path=$(find_browser); then
    echo "$path"
    exit 0
fi
log "apt-get reported success but no chromium executable was found"
exit 1
