"""PostgreSQL: the search vector's GIN index takes new entries into its trees at once (`fastupdate = off`)
and its pending list is merged now, so a search never rescans a list of recent, unsorted entries (and the
planner no longer prices the index out for a table scan after a bulk reindex). SQLite: nothing to do."""

from django.db import migrations

from omnishop.search.backends import index_with_pending_list, index_without_pending_list


def forwards(apps, schema_editor):
    index_without_pending_list(schema_editor)


def backwards(apps, schema_editor):
    index_with_pending_list(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("search", "0003_stored_search_vector")]

    operations = [migrations.RunPython(forwards, backwards)]
