# azd preprovision hook (Windows): make sure the environment has a management API key.
# Same behaviour as preprovision.sh: generated once, then reused by every provision.
$ErrorActionPreference = 'Stop'

if ($env:MANAGEMENT_API_KEY) {
    exit 0
}

$alphabet = [char[]]'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
$bytes = [byte[]]::new(48)
[System.Security.Cryptography.RandomNumberGenerator]::Fill($bytes)
# 62 does not divide 256, so bytes of 248 and above are redrawn to keep the choice uniform.
$key = -join ($bytes | ForEach-Object {
    $b = $_
    while ($b -ge 248) {
        $one = [byte[]]::new(1)
        [System.Security.Cryptography.RandomNumberGenerator]::Fill($one)
        $b = $one[0]
    }
    $alphabet[$b % 62]
})
azd env set MANAGEMENT_API_KEY $key | Out-Null
Write-Host 'preprovision: generated MANAGEMENT_API_KEY for this azd environment'
