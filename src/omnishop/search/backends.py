"""Full-text engines behind one interface: SQLite FTS5 (embedded default) and PostgreSQL text search.

Both receive text that `text.tokenize` has already normalised and segmented, so neither needs a language
configuration, Chinese works the same on both, and a query can only ever contain our own quoted tokens:
user input never reaches MATCH or to_tsquery syntax. A dedicated search server would be a third class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from omnishop.core.dbrouting import read_connection

FTS_TABLE = "search_fts"
PG_VECTOR = "setweight(to_tsvector('simple', title_tokens), 'A') || setweight(to_tsvector('simple', body_tokens), 'B')"
# The weighted vector is stored (a generated column, migration 0003): matching and ranking read it instead of
# parsing both texts again for every candidate row, which was most of the engine's cost on common words.
PG_COLUMN = "search_vector"
# New GIN entries first go to the index's pending list (fastupdate, the default), which every search reads
# in full until a vacuum merges it: after a bulk reindex it held 5,451 entries on 288 pages, each search
# scanned them, and the planner priced the index out for a table scan. So each indexing batch merges the
# list itself; that keeps fastupdate's cheap batch writes (4.1 s for 43 k rows in batches of 500, against
# 9.6 s with fastupdate off). Only the index's owner may merge; another role leaves it to the vacuum.
PG_MERGE_PENDING = (
    "SELECT gin_clean_pending_list(c.oid) FROM pg_class c "
    "WHERE c.relname = 'search_document_vector' AND c.relkind = 'i' AND pg_has_role(c.relowner, 'USAGE')"
)


@dataclass(frozen=True)
class Term:
    """One query position: a token or its synonyms (each a phrase of tokens); `prefix` for type-ahead."""

    alternatives: tuple[tuple[str, ...], ...]
    prefix: bool = False


class Backend:
    def replace(self, docs: Sequence[tuple[int, str, str]]) -> None:
        """(product id, title tokens, body tokens) into the full-text structure (SearchDocument rows
        themselves are written by the service)."""

    def remove(self, product_ids: Sequence[int]) -> None:
        pass

    def match(
        self, terms: Sequence[Term], *, any_term: bool, limit: int, rank_at_most: int | None = None
    ) -> list[tuple[int, float]]:
        """The best `limit` (product id, score), higher is better. `rank_at_most`: an engine whose ranking
        costs time per matching document may rank only that many of them (type-ahead asks for it)."""
        raise NotImplementedError


def _fts_quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


class SQLiteFTS5(Backend):
    def replace(self, docs):
        if not docs:
            return
        with connection.cursor() as cursor:
            cursor.executemany(f"DELETE FROM {FTS_TABLE} WHERE rowid = %s", [(d[0],) for d in docs])
            cursor.executemany(f"INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (%s, %s, %s)", docs)

    def remove(self, product_ids):
        with connection.cursor() as cursor:
            cursor.executemany(f"DELETE FROM {FTS_TABLE} WHERE rowid = %s", [(p,) for p in product_ids])

    @staticmethod
    def expression(terms: Sequence[Term], *, any_term: bool) -> str:
        parts = []
        for term in terms:
            alts = []
            for phrase in term.alternatives:
                text = " ".join(_fts_quote(t) for t in phrase)
                alts.append(f"{text}*" if term.prefix and len(phrase) == 1 else text)
            parts.append("(" + " OR ".join(alts) + ")")
        return (" OR " if any_term else " AND ").join(parts)

    def match(self, terms, *, any_term, limit, rank_at_most=None):
        # FTS5 reads its ranked matches from its own index structure; there is no cost to bound here.
        if not terms:
            return []
        sql = (
            f"SELECT rowid, bm25({FTS_TABLE}, 4.0, 1.0) AS rank FROM {FTS_TABLE} "
            f"WHERE {FTS_TABLE} MATCH %s ORDER BY rank LIMIT %s"
        )
        with read_connection().cursor() as cursor:
            cursor.execute(sql, [self.expression(terms, any_term=any_term), limit])
            # bm25() is lower-is-better; flip it so every backend returns higher-is-better.
            return [(pk, -rank) for pk, rank in cursor.fetchall()]


def _pg_quote(token: str) -> str:
    return "'" + token.replace("'", "''").replace("\\", "\\\\") + "'"


class PostgresFTS(Backend):
    # The stored vector column is written by the service's SearchDocument rows; the engine's part of
    # indexing is to merge the new index entries at once (see PG_MERGE_PENDING).
    def replace(self, docs):
        if docs:
            self._merge_pending()

    @staticmethod
    def _merge_pending() -> None:
        with connection.cursor() as cursor:
            cursor.execute(PG_MERGE_PENDING)

    @staticmethod
    def expression(terms: Sequence[Term], *, any_term: bool) -> str:
        parts = []
        for term in terms:
            alts = []
            for phrase in term.alternatives:
                text = " <-> ".join(_pg_quote(t) for t in phrase)
                alts.append(f"{text}:*" if term.prefix and len(phrase) == 1 else f"({text})")
            parts.append("(" + " | ".join(alts) + ")")
        return (" | " if any_term else " & ").join(parts)

    def match(self, terms, *, any_term, limit, rank_at_most=None):
        if not terms:
            return []
        if rank_at_most is None:
            sql = (
                f"SELECT product_id, ts_rank_cd({PG_COLUMN}, q, 1) AS rank "
                f"FROM search_searchdocument, to_tsquery('simple', %s) q "
                f"WHERE {PG_COLUMN} @@ q ORDER BY rank DESC, product_id LIMIT %s"
            )
            params = [self.expression(terms, any_term=any_term), limit]
        else:
            # Only the first `rank_at_most` rows the GIN index finds are read and ranked (in table order),
            # so a common word costs a bounded number of heap visits and rank computations.
            sql = (
                f"SELECT d.product_id, ts_rank_cd(d.{PG_COLUMN}, q, 1) AS rank "
                f"FROM to_tsquery('simple', %s) q, LATERAL (SELECT product_id, {PG_COLUMN} "
                f"FROM search_searchdocument WHERE {PG_COLUMN} @@ q LIMIT %s) d "
                f"ORDER BY rank DESC, d.product_id LIMIT %s"
            )
            params = [self.expression(terms, any_term=any_term), rank_at_most, limit]
        with read_connection().cursor() as cursor:
            cursor.execute(sql, params)
            return [(pk, float(rank)) for pk, rank in cursor.fetchall()]


def backend() -> Backend:
    return PostgresFTS() if connection.vendor == "postgresql" else SQLiteFTS5()


# --- schema (run by the migration, per database) -----------------------------------------------------------


def create_structures(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(title, body, "
            "tokenize = \"unicode61 remove_diacritics 2\", prefix = '2 3')"
        )
    elif vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS search_document_tsv ON search_searchdocument USING gin (({PG_VECTOR}))"
        )


def drop_structures(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS search_document_tsv")


def store_vector(schema_editor) -> None:
    """PostgreSQL: the weighted vector becomes a stored generated column with its own GIN index (0003)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE search_searchdocument ADD COLUMN IF NOT EXISTS {PG_COLUMN} tsvector "
        f"GENERATED ALWAYS AS ({PG_VECTOR}) STORED"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS search_document_vector ON search_searchdocument USING gin ({PG_COLUMN})"
    )
    schema_editor.execute("DROP INDEX IF EXISTS search_document_tsv")


def merge_pending_entries(schema_editor) -> None:
    """PostgreSQL: merge what waits in the GIN index's pending list into its trees (0004)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_MERGE_PENDING)


def unstore_vector(schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS search_document_tsv ON search_searchdocument USING gin (({PG_VECTOR}))"
    )
    schema_editor.execute("DROP INDEX IF EXISTS search_document_vector")
    schema_editor.execute(f"ALTER TABLE search_searchdocument DROP COLUMN IF EXISTS {PG_COLUMN}")
