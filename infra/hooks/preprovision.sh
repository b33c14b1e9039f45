#!/bin/sh
# azd preprovision hook: make sure the environment has a management API key.
#
# The key is generated once, stored in the azd environment (.azure/<env>/.env) and passed to
# main.bicep as managementApiKey, which writes it to Key Vault. Later provisions pass the same
# value, so the key only changes when an operator sets a new one (docs/DEPLOY.md, "Rotate").
set -eu

if [ -n "${MANAGEMENT_API_KEY:-}" ]; then
    exit 0
fi

# 48 characters from [A-Za-z0-9]: about 285 bits, and safe in a header without quoting.
key=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 48)
if [ "${#key}" -ne 48 ]; then
    echo "preprovision: could not generate a management API key" >&2
    exit 1
fi
azd env set MANAGEMENT_API_KEY "$key" >/dev/null
echo "preprovision: generated MANAGEMENT_API_KEY for this azd environment"
