"""The search index: one document per product (pre-tokenised text, Chinese already segmented) and the
merchant's synonyms. The full-text structures themselves (an FTS5 table on SQLite, a GIN index on
PostgreSQL) are created by the migration for the database in use; see backends.py."""

from django.db import models


class SearchDocument(models.Model):
    product = models.OneToOneField(
        "catalog.Product", primary_key=True, on_delete=models.CASCADE, related_name="search_document"
    )
    title_tokens = models.TextField(help_text="Tokens of the title, space-separated (weighted highest).")
    body_tokens = models.TextField(help_text="Tokens of description, brand, category and attributes.")
    source_updated_at = models.DateTimeField(db_index=True, help_text="Product.updated_at when indexed.")
    indexed_at = models.DateTimeField(auto_now=True)


class Synonym(models.Model):
    """A search term and the words that mean the same ("tee" → "t-shirt"; "手机" → "phone"); one way:
    searching the term also finds its synonyms."""

    term = models.CharField(max_length=100, unique=True, help_text="Normalised (lower-case) single token.")
    synonyms = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term
