#!/usr/bin/env bash
# Offline security scan of the Bicep templates with checkov.
#
# checkov lives in its own virtual environment (.venv-checkov at the repository root): its pins
# clash with the app's dependencies. The first run creates it; later runs reuse it and print only
# checkov's findings. --skip-download keeps checkov from calling its vendor's API, so the scan
# works without internet. Exits non-zero when any check fails; suppressions are written in the
# templates as //checkov:skip=CKV_...:reason.
set -euo pipefail

CHECKOV_VERSION="3.3.30"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-checkov"

installed_version() {
    "$venv/bin/python" -c 'from importlib.metadata import version; print(version("checkov"))' \
        2>/dev/null || true
}

if [ "$(installed_version)" != "$CHECKOV_VERSION" ]; then
    echo "infra/check.sh: installing checkov $CHECKOV_VERSION into .venv-checkov" >&2
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        # Keep the environment out of git without touching the repository's .gitignore.
        printf '*\n' > "$venv/.gitignore"
    fi
    "$venv/bin/python" -m pip install -qq --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

cd "$root"
status=0
report="$("$venv/bin/checkov" --framework bicep --skip-download -d infra --quiet --compact)" \
    || status=$?
printf '%s\n' "$report"
# A file checkov cannot parse is left out of the scan without failing it: treat that as a failure.
if printf '%s\n' "$report" | grep -q 'Parsing errors: [1-9]'; then
    echo "infra/check.sh: checkov could not parse every template" >&2
    exit 1
fi
exit "$status"
