"""Live updates: small hints pushed to the console (Azure Web PubSub, or the devhost's socket)."""
