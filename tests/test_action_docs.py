"""The action tables of the docs are the catalog's: a new or changed action cannot leave them behind."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from jobs.actions.catalog import ACTIONS
from jobs.actions.docs import DOCUMENTS, rendered, stale_documents

ROOT = Path(settings.BASE_DIR)


def test_the_documents_hold_the_tables_the_catalog_renders():
    assert stale_documents(ROOT) == [], "run: python manage.py jobs docs --write"


def test_every_action_and_every_door_it_offers_is_in_the_documents():
    console = (ROOT / "docs/console.md").read_text()
    api = (ROOT / "docs/api.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for action in ACTIONS.values():
        assert f"`{action.name}`" in readme
        if action.console:
            assert f"`jobs:{action.console.url_name}`" in console
        if action.api:
            assert f"`{action.api}`" in api
        if action.cli:
            assert f"`jobs {action.cli}`" in readme


def test_a_table_that_drifts_from_the_catalog_is_found(tmp_path):
    for path, name in DOCUMENTS.items():
        text = (ROOT / path).read_text()
        edited = text.replace("| `dlq.clear` |", "| `dlq.clear_everything` |", 1)
        if edited != text:
            assert rendered(edited, name) == text
