"""The catalog of runbook actions, and how a door performs one (see catalog and perform)."""
