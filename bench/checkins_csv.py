"""Write a seeded CSV of check-ins for an organisation, to time `lockstep import-checkins`.

    LOCKSTEP_DATABASE_URL=... .venv/bin/python bench/checkins_csv.py --org imp \
        --rows 1000000 -o /tmp/imp/checkins.csv

Rows go to the organisation's live KRs whose objective is open and whose cycle has begun,
at random moments between the cycle start and now (never past the cycle end), with values
a KR of that kind can take, confidences 1-10 and a note on one row in ten.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--org", required=True, help="organisation slug")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockstep.settings")
    import django

    django.setup()
    krs = checkins_csv_write(args.org, args.rows, args.seed, args.output)
    if not krs:
        print("no key result can take a check-in now", file=sys.stderr)
        return 1
    print(f"{args.rows:,} rows over {krs:,} key results -> {args.output}")
    return 0


def checkins_csv_write(org_slug: str, rows: int, seed: int, output: str) -> int:
    """Write `rows` seeded check-ins of the organisation to `output`; the KRs they may hit."""
    from django.utils import timezone

    from lockstep.goals.models import KeyResult, Objective
    from lockstep.goals.selectors import cycle_window, org_tz
    from lockstep.org.models import Organisation

    org = Organisation.objects.get(slug=org_slug)
    tz = org_tz(org)
    now = timezone.now() - dt.timedelta(minutes=1)
    krs = []
    query = (
        KeyResult.objects.filter(organisation=org, archived_at__isnull=True)
        .exclude(objective__state=Objective.State.CLOSED)
        .select_related("objective__cycle")
        .only("key", "kind", "start", "target", "objective__cycle")
        .order_by("pk")
    )
    for kr in query.iterator(chunk_size=10_000):
        # In UTC: adding to a zoned time is wall-clock arithmetic, an hour off across DST.
        opens, closes = (m.astimezone(dt.UTC) for m in cycle_window(kr.objective.cycle, tz))
        last = min(now, closes - dt.timedelta(seconds=1))
        if opens < last:
            span = (last - opens).total_seconds()
            krs.append((kr.key, kr.kind, kr.start, kr.target, opens, span))
    if not krs:
        return 0
    rng = random.Random(seed)
    with open(output, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["key_result", "at", "value", "confidence", "note"])
        for _ in range(rows):
            key, kind, start, target, opens, span = rng.choice(krs)
            at = (opens + dt.timedelta(seconds=int(rng.random() * span))).astimezone(tz)
            if kind == "milestone":
                value: float = rng.randint(0, int(target))
            elif kind in ("increase", "decrease"):
                value = round(start + rng.random() * (target - start), 2)
            else:
                value = round(target * rng.uniform(0.6, 1.3), 2)
            note = "imported from the weekly sheet" if rng.random() < 0.1 else ""
            writer.writerow([key, at.isoformat(), value, rng.randint(1, 10), note])
    return len(krs)


if __name__ == "__main__":
    raise SystemExit(main())
