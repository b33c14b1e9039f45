#!/bin/sh
# azd postprovision hook: print what the Facebook app setup needs (docs/DEPLOY.md).
set -eu
cat <<TEXT

Deployed. Next steps (docs/DEPLOY.md):
  Function app:       ${FUNCTION_APP_URL:-}
  Callback URL base:  ${WEBHOOK_CALLBACK_BASE:-}<account_id>
  Management key:     az keyvault secret show --vault-name ${AZURE_KEY_VAULT_NAME:-<vault>} \\
                        --name ${MANAGEMENT_API_KEY_SECRET_NAME:-management-api-key} --query value -o tsv
TEXT
