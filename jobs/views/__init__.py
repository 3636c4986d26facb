"""The console's pages, one module per runbook area (see jobs/urls.py for the map)."""
