"""Words ending in "-ie" are now indexed as "-y" (hoodie, hoodies → hoody; core.text._stem), so the stored
tokens are stale: the index is emptied (the next search rebuilds it, `refresh_index` reindexes every product
the index has not seen) and the merchant's synonyms are tokenised again."""

from django.db import migrations


def forwards(apps, schema_editor):
    from omnishop.core.text import tokenize

    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DELETE FROM search_fts")
    SearchDocument = apps.get_model("search", "SearchDocument")
    SearchDocument.objects.all().delete()
    Synonym = apps.get_model("search", "Synonym")
    for synonym in list(Synonym.objects.all()):
        term = tokenize(synonym.term)
        cleaned = [" ".join(tokenize(s)) for s in synonym.synonyms]
        cleaned = [s for s in dict.fromkeys(cleaned) if s and term and s != term[0]]
        if len(term) != 1 or Synonym.objects.filter(term=term[0]).exclude(pk=synonym.pk).exists():
            continue  # keep a term the new tokeniser cannot place as it was
        if (term[0], cleaned) != (synonym.term, synonym.synonyms):
            synonym.term, synonym.synonyms = term[0], cleaned
            synonym.save(update_fields=["term", "synonyms"])


class Migration(migrations.Migration):
    dependencies = [("search", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
