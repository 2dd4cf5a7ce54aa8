"""The lookup of a batch's staged lines by document reads only those documents' lines, whatever the
planner's statistics say (ADR 0058). A table an import has just filled has no statistics, or statistics
from before another channel's lines arrived: `document_no = ANY(…)` was then planned as a scan of every
line of the source, re-read for each batch — a first import slowed down as it went, and a re-import right
after it ran at a third of its speed."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from omnishop.datahub.models import StagedTransactionLine
from omnishop.datahub.targets.history import lines_of_documents

from .conftest import dataset, head_of_gzip


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL plan")
def test_a_batch_reads_only_its_documents_lines_when_statistics_predate_the_source(
    run_import, make_channel, retail_channel
):
    data = head_of_gzip(dataset("online_retail_uci", "online_retail_2011-02.csv.gz"), 2000)
    run_import("online_retail", data, name="a.csv", channel=retail_channel)
    with connection.cursor() as cursor:
        # The statistics know one channel's lines only; then a second channel imports its own.
        cursor.execute(f"ANALYZE {StagedTransactionLine._meta.db_table}")
    second = make_channel("outlet", "web", "GBP", country="GB")
    run_import("online_retail", data, name="b.csv", channel=second)
    source = StagedTransactionLine.objects.exclude(channel=retail_channel).values_list("source", flat=True)[0]
    documents = sorted(
        set(StagedTransactionLine.objects.filter(source=source).values_list("document_no", flat=True))
    )[10:16]
    wanted = StagedTransactionLine.objects.filter(source=source, document_no__in=documents).count()
    assert 20 < wanted < StagedTransactionLine.objects.filter(source=source).count() / 4

    with CaptureQueriesContext(connection) as captured:
        lines = lines_of_documents(source, documents, ("natural_key", "raw_hash"))
    assert len(lines) == wanted
    (query,) = captured.captured_queries
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query['sql']}")
        plan = cursor.fetchone()[0]
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    scans = [
        node for node in _nodes(plan) if node.get("Relation Name") == StagedTransactionLine._meta.db_table
    ]
    # Each document's lines found by the index on both columns; no line of the source read and dropped.
    assert scans and all(node["Node Type"] == "Index Scan" for node in scans)
    assert all("document_no" in node["Index Cond"] for node in scans)
    assert not any(
        node.get("Rows Removed by Filter") or node.get("Rows Removed by Index Recheck") for node in scans
    )
