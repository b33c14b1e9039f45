# azd postprovision hook (Windows): print what the Facebook app setup needs (docs/DEPLOY.md).
Write-Host ''
Write-Host 'Deployed. Next steps (docs/DEPLOY.md):'
Write-Host "  Function app:       $env:FUNCTION_APP_URL"
Write-Host "  Callback URL base:  $($env:WEBHOOK_CALLBACK_BASE)<account_id>"
Write-Host "  Management key:     az keyvault secret show --vault-name $env:AZURE_KEY_VAULT_NAME --name $env:MANAGEMENT_API_KEY_SECRET_NAME --query value -o tsv"
