"""HTML typed into any text field is shown as text on every page, never run.

Every name, title, text, note and description of the demo gets a script-bearing tag; the
main pages, each objective page, each dependency page and the API answers must carry it
escaped and never raw."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client

from lockstep.alignment.models import AskOffer, Dependency, Finding, ReviewNote
from lockstep.demo.loader import DEMO_USERNAME, load_demo
from lockstep.demo.tour import main_pages
from lockstep.goals.models import KPI, CheckIn, Cycle, Initiative, KeyResult, Objective
from lockstep.org.models import Organisation, Person, Unit

TAG = '<img src=x onerror="alert(1)">'
ESCAPED = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"


def test_every_text_is_escaped_on_every_page(db):
    org = load_demo()
    for model, fields in [
        (Unit, ["name"]),
        (Person, ["name"]),
        (Cycle, ["name"]),
        (Objective, ["title", "description"]),
        (KeyResult, ["title"]),
        (Initiative, ["title"]),
        (KPI, ["name"]),
        (Dependency, ["title", "description", "reason"]),
        (AskOffer, ["text"]),
        (CheckIn, ["note", "blockers"]),
        (Finding, ["title", "suggestion"]),
    ]:
        for row in model.objects.filter(organisation=org):
            model.objects.filter(pk=row.pk).update(
                **{f: f"{getattr(row, f)} {TAG}"[:190] for f in fields}
            )
    ReviewNote.objects.filter(review__organisation=org).update(text=TAG)
    Organisation.objects.filter(pk=org.pk).update(name=f"Northwind {TAG}")

    c = Client()
    c.force_login(get_user_model().objects.get(username=DEMO_USERNAME))
    pages = [path for _label, path in main_pages()]
    pages += [f"/objectives/{pk}/" for pk in Objective.objects.values_list("pk", flat=True)]
    pages += [f"/dependencies/{pk}/" for pk in Dependency.objects.values_list("pk", flat=True)]
    pages += ["/api/v1/objectives?limit=200", "/api/v1/findings?limit=200"]
    raw, shown = [], 0
    for url in pages:
        body = c.get(url).content.decode()
        if TAG in body:
            raw.append(url)
        shown += ESCAPED in body or "\\u003cimg" in body or '<img src=x onerror=\\"' in body
    assert raw == []
    assert shown >= len(pages) - 2  # the marks are on the pages, escaped
