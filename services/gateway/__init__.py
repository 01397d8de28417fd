"""The gateway process: webhooks, commands, uploads and the admission manager (§1, §7, §10)."""
