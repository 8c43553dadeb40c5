#!/usr/bin/env bash
# Install the Debian packages GridCare needs that pip cannot provide, when missing:
#   fonts-wqy-microhei   Chinese font embedded in PDF bills (电费通知单)        (always)
#   libgomp1             OpenMP runtime LightGBM's wheel links against (theft model)   (always)
#   chromium, gettext    browser tests and the translation-catalogue check       (with --test)
# Runs apt-get as root or with password-less sudo; otherwise warns and carries on (the
# features that need a missing package fail with a clear message).
set -uo pipefail

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

MISSING=()
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || MISSING+=(fonts-wqy-microhei)
{ ldconfig -p 2>/dev/null | grep -q 'libgomp\.so\.1'; } || MISSING+=(libgomp1)
if [ "${1:-}" = "--test" ]; then
    [ -x /usr/bin/chromium ] || MISSING+=(chromium)
    { command -v xgettext >/dev/null && command -v msgmerge >/dev/null; } || MISSING+=(gettext)
fi
if [ ${#MISSING[@]} -gt 0 ]; then
    echo "system-packages: installing ${MISSING[*]}" >&2
    if ! { as_root apt-get update -qq && \
           as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}"; } >&2; then
        echo "system-packages: WARNING: could not install ${MISSING[*]} (not root, no sudo?)" >&2
    fi
fi
exit 0
