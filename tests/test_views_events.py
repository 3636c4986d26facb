"""The events feed: latest first, type filter, and only newer events when polled with ?after=."""

from __future__ import annotations

from django.urls import reverse

from jobs.models import Event
from tests.support.console import login


def test_it_shows_the_latest_events_and_polls_for_newer_ones(client, users):
    old = [Event.objects.create(type="job:submitted", data={"n": i}) for i in range(3)]
    login(client, users["viewer"])
    page = client.get(reverse("jobs:event-list"))
    assert [e.id for e in page.context["events"]] == [e.id for e in reversed(old)]
    assert f"after={old[-1].id}" in page.text
    new = Event.objects.create(type="job:failed", data={"error": "boom"})
    poll = client.get(reverse("jobs:event-list"), {"after": old[-1].id}, headers={"HX-Request": "true"})
    assert [e.id for e in poll.context["events"]] == [new.id]
    assert f'data-event="{new.id}"' in poll.text and f'data-event="{old[0].id}"' not in poll.text
    assert 'hx-swap-oob="true"' in poll.text and f"after={new.id}" in poll.text


def test_it_filters_by_type(client, users):
    Event.objects.create(type="job:submitted")
    failed = Event.objects.create(type="job:failed")
    page = login(client, users["viewer"]).get(reverse("jobs:event-list"), {"type": "job:failed"})
    assert [e.id for e in page.context["events"]] == [failed.id]


def test_it_refuses_a_bad_type_or_cursor(client, users):
    login(client, users["viewer"])
    assert client.get(reverse("jobs:event-list"), {"type": "nope"}).status_code == 400
    assert client.get(reverse("jobs:event-list"), {"after": "x"}).status_code == 400


def test_it_says_what_to_expect_when_there_are_no_events(client, users):
    assert "No events yet." in login(client, users["viewer"]).get(reverse("jobs:event-list")).text
