import django.db.models.deletion
from django.db import migrations, models

from omnishop.search.backends import create_structures, drop_structures


def forwards(apps, schema_editor):
    create_structures(schema_editor)


def backwards(apps, schema_editor):
    drop_structures(schema_editor)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchDocument",
            fields=[
                (
                    "product",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_document",
                        serialize=False,
                        to="catalog.product",
                    ),
                ),
                ("title_tokens", models.TextField(help_text="Tokens of the title, space-separated (weighted highest).")),
                ("body_tokens", models.TextField(help_text="Tokens of description, brand, category and attributes.")),
                (
                    "source_updated_at",
                    models.DateTimeField(db_index=True, help_text="Product.updated_at when indexed."),
                ),
                ("indexed_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.CreateModel(
            name="Synonym",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("term", models.CharField(help_text="Normalised (lower-case) single token.", max_length=100, unique=True)),
                ("synonyms", models.JSONField(default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["term"]},
        ),
        migrations.RunPython(forwards, backwards),
    ]
