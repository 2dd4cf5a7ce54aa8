"""A transactions import meets rows it staged before by their raw digest and leaves them alone without
cleaning them — and ends exactly where the plain path (every row cleaned and compared by content) ends:
the same natural keys, the same content, the same counts, whatever was inserted, removed, changed or
repeated between the two files."""

from __future__ import annotations

import itertools

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnishop.datahub.models import StagedTransactionLine
from omnishop.datahub.profiles import Profile

from .conftest import dataset, head_of_gzip

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
# Staging only: no products, customers or orders, so two channels can hold two runs side by side.
STAGING_ONLY = {"target": {"orders": False, "link_customers": False, "create_products": False}}
_codes = itertools.count(1)


def staged(channel) -> dict[str, str]:
    return dict(
        StagedTransactionLine.objects.filter(source=f"online_retail@{channel.code}").values_list(
            "natural_key", "content_hash"
        )
    )


def counts(job) -> tuple[int, ...]:
    return (job.rows_read, job.imported, job.updated, job.unchanged, job.quarantined)


@pytest.fixture
def cleaned_rows(monkeypatch):
    """How many rows the profile cleaned: the real `apply_many`/`apply`, counted."""
    seen = [0]
    apply_many, apply = Profile.apply_many, Profile.apply

    def counting_many(self, rows):
        seen[0] += len(rows)
        return apply_many(self, rows)

    def counting_one(self, values):
        seen[0] += 1
        return apply(self, values)

    monkeypatch.setattr(Profile, "apply_many", counting_many)
    monkeypatch.setattr(Profile, "apply", counting_one)
    return seen


def test_a_real_file_imported_again_is_counted_unchanged_without_cleaning_a_row(
    run_import, retail_channel, cleaned_rows
):
    data = head_of_gzip(dataset("online_retail_uci", "online_retail_2011-02.csv.gz"), 3001)
    first = run_import("online_retail", data, channel=retail_channel)
    assert cleaned_rows[0] == 3000
    lines = StagedTransactionLine.objects.count()
    second = run_import("online_retail", data, channel=retail_channel)
    assert (second.unchanged, second.imported, second.updated) == (first.imported, 0, 0)
    assert second.quarantined == first.quarantined  # quarantined rows are cleaned again and met in quarantine
    assert second.quality["recognised_unchanged"] == first.imported
    assert cleaned_rows[0] == 3000 + first.quarantined
    assert StagedTransactionLine.objects.count() == lines


def test_lines_staged_before_digests_take_them_at_their_next_import(run_import, retail_channel, cleaned_rows):
    data = head_of_gzip(dataset("online_retail_uci", "online_retail_2010-12.csv.gz"), 801)
    first = run_import("online_retail", data, channel=retail_channel)
    StagedTransactionLine.objects.update(raw_hash=None)  # as an installation before this change left them
    again = run_import("online_retail", data, channel=retail_channel)
    assert (again.unchanged, again.quality["recognised_unchanged"]) == (first.imported, 0)
    assert not StagedTransactionLine.objects.filter(raw_hash__isnull=True).exists()
    cleaned = cleaned_rows[0]
    third = run_import("online_retail", data, channel=retail_channel)
    assert third.quality["recognised_unchanged"] == third.unchanged == first.imported
    assert cleaned_rows[0] == cleaned + first.quarantined


def test_a_line_inserted_at_the_top_of_an_invoice_moves_the_lines_below_it(run_import, retail_channel):
    rows = [
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n",
        "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom\n",
        "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850,United Kingdom\n",
    ]
    first = run_import("online_retail", (HEADER + "".join(rows)).encode(), channel=retail_channel)
    assert first.imported == 3
    inserted = (
        "536365,84406B,CREAM CUPID HEARTS COAT HANGER,8,2010-12-01 08:26:00,2.75,17850,United Kingdom\n"
    )
    second = run_import("online_retail", (HEADER + inserted + "".join(rows)).encode(), channel=retail_channel)
    # 536365:1 and :2 now hold other lines, :3 is new; 536366:1 is met again where it was.
    assert (second.updated, second.imported, second.unchanged) == (2, 1, 1)
    assert second.quality["recognised_unchanged"] == 1
    assert StagedTransactionLine.objects.get(natural_key="536365:1").sku == "84406B"
    assert StagedTransactionLine.objects.get(natural_key="536365:3").sku == "71053"


def test_a_changed_profile_option_cleans_every_row_again(run_import, retail_channel):
    data = (
        HEADER + "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,"
        "United Kingdom\n"
    ).encode()
    run_import("online_retail", data, channel=retail_channel, options=STAGING_ONLY)
    euros = {"target": {**STAGING_ONLY["target"], "currency": "EUR"}}
    again = run_import("online_retail", data, channel=retail_channel, options=euros)
    assert again.quality["recognised_unchanged"] == 0
    assert again.updated == 1
    assert StagedTransactionLine.objects.get().currency == "EUR"


LINES = st.tuples(
    st.sampled_from(["536365", "536366", "C536367", "A536368"]),
    st.sampled_from(["85123A", "71053", "POST", "22633"]),
    st.sampled_from(["6", "-2", "0", "1", "x"]),  # 0: quarantined by the target; x: by cleaning
    st.sampled_from(["2.55", "1.85", "-1.00", "0.0"]),
    st.sampled_from(["17850", "", "13047"]),
).map(lambda v: f"{v[0]},{v[1]},ITEM {v[1]},{v[2]},2010-12-01 08:26:00,{v[3]},{v[4]},United Kingdom\n")
EDITS = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "replace", "repeat", "swap"]), st.integers(0, 40), LINES),
    max_size=8,
)


def edited(lines: list[str], edits) -> list[str]:
    out = list(lines)
    for kind, at, line in edits:
        if kind == "insert" or not out:
            out.insert(at % (len(out) + 1), line)
            continue
        at %= len(out)
        if kind == "delete":
            del out[at]
        elif kind == "replace":
            out[at] = line
        elif kind == "repeat":
            out.insert(at, out[at])
        else:
            out[at], out[-1] = out[-1], out[at]
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.lists(LINES, min_size=1, max_size=25), edits=EDITS, batch=st.sampled_from([3, 7, 5000]))
def test_meeting_rows_again_ends_where_cleaning_every_row_ends(run_import, make_channel, base, edits, batch):
    """Two channels import the same two files, one meeting rows again by digest, one cleaning every row:
    staged keys, content and every job's counts agree (batches small enough to split documents)."""
    files = [HEADER + "".join(base), HEADER + "".join(edited(base, edits))]
    results = []
    for recognise in (True, False):
        channel = make_channel(f"r{next(_codes)}", "web", "GBP", country="GB")
        with override_settings(OMNISHOP_DATAHUB_RECOGNISE_ROWS=recognise, OMNISHOP_DATAHUB_BATCH_SIZE=batch):
            jobs = [
                run_import("online_retail", text.encode(), channel=channel, options=STAGING_ONLY)
                for text in files
            ]
        results.append(
            ([counts(job) for job in jobs], staged(channel), jobs[1].quality["recognised_unchanged"])
        )
    (fast_counts, fast_lines, recognised), (plain_counts, plain_lines, none) = results
    assert none == 0
    assert fast_counts == plain_counts
    assert fast_lines == plain_lines
    assert recognised <= fast_counts[1][3]  # every row met again is one the plain path finds unchanged
