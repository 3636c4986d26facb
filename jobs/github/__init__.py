"""GitHub: the approval watcher's client, the webhook and the approval source."""
