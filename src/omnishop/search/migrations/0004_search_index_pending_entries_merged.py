"""PostgreSQL: the entries waiting in the search vector GIN index's pending list are merged into its trees
now; from here on every indexing batch merges its own (backends.PG_MERGE_PENDING), so a search never reads a
list of recent, unsorted entries again. SQLite: nothing to do."""

from django.db import migrations

from omnishop.search.backends import merge_pending_entries


def forwards(apps, schema_editor):
    merge_pending_entries(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("search", "0003_stored_search_vector")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
