"""Platform adapters: one package per platform with its API client and Publisher."""
