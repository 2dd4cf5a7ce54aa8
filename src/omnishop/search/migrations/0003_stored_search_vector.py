"""PostgreSQL keeps the weighted search vector in a stored generated column with a GIN index on it, so a
search no longer parses the title and body text of every candidate again to match and rank it (SQLite's
FTS5 table already stores its index; nothing changes there). The expression index it replaces is dropped."""

from django.db import migrations

from omnishop.search.backends import store_vector, unstore_vector


def forwards(apps, schema_editor):
    store_vector(schema_editor)


def backwards(apps, schema_editor):
    unstore_vector(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("search", "0002_plural_ie_words_reindexed")]

    operations = [migrations.RunPython(forwards, backwards)]
