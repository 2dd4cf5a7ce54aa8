"""Back-office screens for the data hub: jobs with their counts and data-quality report, the quarantine
(discard / re-submit as is), the identity-resolution review queue (merge / keep apart), product merges
(undo), the staged sales documents and lines with what each became (read-only), and the channels' SKU
aliases (view, delete a wrong one). Actions call the services."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from omnishop.backoffice.kit import ReadOnlyAdmin
from omnishop.core.errors import DomainError

from . import product_merges, services
from .models import (
    ImportJob,
    MatchCandidate,
    ProductMerge,
    QuarantinedRow,
    SkuAlias,
    StagedDocument,
    StagedTransactionLine,
)


class QuarantineInline(admin.TabularInline):
    model = QuarantinedRow
    fk_name = "job"
    extra = 0
    max_num = 0
    fields = ("line", "status", "reasons", "raw")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "profile",
        "source_name",
        "channel",
        "status",
        "rows_read",
        "imported",
        "updated",
        "unchanged",
        "merged",
        "quarantined",
        "created_at",
    )
    list_filter = ("status", "profile", "channel")
    search_fields = ("source_name", "profile")
    readonly_fields = [f.name for f in ImportJob._meta.fields] + ["quality_report"]
    exclude = ("quality",)
    inlines = [QuarantineInline]
    actions = ["rerun"]

    def has_add_permission(self, request):
        return False  # imports start from the API or `omnishop import`

    @admin.display(description="Data-quality report")
    def quality_report(self, job):
        report = job.quality or {}
        completeness = format_html_join(
            "", "<tr><td>{}</td><td>{:.1%}</td></tr>", sorted((report.get("completeness") or {}).items())
        )
        rejects = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r["reason"], r["count"], r["sample_lines"]) for r in report.get("rejects_by_reason", [])),
        )
        return format_html(
            "<p>Exact duplicate rows: {}. Missing optional columns: {}. Side effects: {}.</p>"
            "<table><tr><th>field</th><th>filled</th></tr>{}</table>"
            "<table><tr><th>reason</th><th>rows</th><th>e.g. lines</th></tr>{}</table>",
            report.get("duplicate_rows", 0),
            ", ".join(report.get("missing_optional_columns", [])) or "none",
            job.entity_counts or "none",
            completeness,
            rejects or format_html("<tr><td colspan=3>none</td></tr>"),
        )

    @admin.action(description="Run the stored file again (finishes a killed job; no-op otherwise)")
    def rerun(self, request, queryset):
        for job in queryset:
            new = services.enqueue_import(job=services.rerun_import(job=job, user=request.user))
            self.message_user(request, f"Import #{new.pk}: {new.status}.", messages.INFO)


@admin.register(QuarantinedRow)
class QuarantinedRowAdmin(admin.ModelAdmin):
    list_display = ("id", "job", "line", "status", "first_reason")
    list_filter = ("status", "job__profile")
    readonly_fields = ("job", "line", "raw", "reasons", "status", "resolved_by_job", "created_at")
    actions = ["resubmit", "discard"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="reason")
    def first_reason(self, row):
        reason = (row.reasons or [{}])[0]
        return f"{reason.get('field')}: {reason.get('code')}"

    @admin.action(description="Re-submit as is (after fixing the catalog or profile)")
    def resubmit(self, request, queryset):
        for row in queryset.filter(status=QuarantinedRow.Status.OPEN):
            row, job = services.resubmit_quarantined(row=row, user=request.user)
            self.message_user(request, f"Row {row.line}: {row.status} (import #{job.pk}).", messages.INFO)

    @admin.action(description="Discard")
    def discard(self, request, queryset):
        for row in queryset.filter(status=QuarantinedRow.Status.OPEN):
            services.discard_quarantined(row=row)


@admin.register(MatchCandidate)
class MatchCandidateAdmin(admin.ModelAdmin):
    list_display = ("id", "entity", "left_id", "right_id", "score", "status", "created_at")
    list_filter = ("status", "entity")
    readonly_fields = [f.name for f in MatchCandidate._meta.fields]
    actions = ["merge", "keep_apart"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Merge (customers: the customers merge service; products: undoable below)")
    def merge(self, request, queryset):
        for candidate in queryset.filter(status=MatchCandidate.Status.OPEN):
            services.decide_match(candidate=candidate, merge=True, user=request.user)

    @admin.action(description="Keep apart")
    def keep_apart(self, request, queryset):
        for candidate in queryset.filter(status=MatchCandidate.Status.OPEN):
            services.decide_match(candidate=candidate, merge=False, user=request.user)


@admin.register(ProductMerge)
class ProductMergeAdmin(ReadOnlyAdmin):
    """Every product merge (at import time or accepted from the review queue) with what it filled and moved;
    the undo action gives each back exactly or says why it cannot."""

    list_display = (
        "id",
        "kind",
        "product",
        "merged_product_id",
        "sources",
        "score",
        "created_at",
        "undone_at",
    )
    list_filter = ("kind", "undone_at")
    actions = ["undo"]

    @admin.action(description="Undo (exactly, or refused with the reason)")
    def undo(self, request, queryset):
        for merge in queryset:
            try:
                product_merges.undo_product_merge(merge=merge, user=request.user)
            except DomainError as exc:  # shown to the user, nothing half-done: the undo is one transaction
                self.message_user(request, f"Merge #{merge.pk}: {exc.message}", messages.ERROR)


@admin.register(StagedDocument)
class StagedDocumentAdmin(ReadOnlyAdmin):
    """Imported invoices, credit notes and baskets, and what each became: find the rejected (an unknown
    product: import it and the next import retries) and the conflicts (changed after returns)."""

    list_display = ("document_no", "source", "is_credit", "status", "occurred_at", "updated_at")
    list_filter = ("status", "is_credit", "source")
    search_fields = ("=document_no",)
    readonly_fields = ("source", "document_no", "is_credit", "occurred_at", "status", "updated_at", "lines")

    @admin.display(description="Staged lines")
    def lines(self, obj):
        rows = StagedTransactionLine.objects.filter(source=obj.source, document_no=obj.document_no).order_by(
            "id"
        )
        return format_html_join(
            "",
            "<div>{} · {} · {} × {} = {} {} {}</div>",
            (
                (r.natural_key, r.kind, r.sku or "—", r.quantity, r.line_total, r.currency, r.consumed_as)
                for r in rows[:500]
            ),
        )


@admin.register(StagedTransactionLine)
class StagedTransactionLineAdmin(ReadOnlyAdmin):
    list_display = (
        "document_no", "kind", "sku", "quantity", "line_total", "currency", "occurred_at", "customer_ref",
        "consumed_as",
    )  # fmt: skip
    list_filter = ("kind", "consumed_as", "source")
    search_fields = ("=document_no", "=sku", "=customer_ref")
    raw_id_fields = ("job", "channel", "customer", "variant")
    show_full_result_count = False


@admin.register(SkuAlias)
class SkuAliasAdmin(ReadOnlyAdmin):
    """A channel's SKU for a catalogue variant, learnt by a products import (option values) or from a SKU
    map. Deleting a wrong one lets the channel's next import match that SKU again (or follow a map)."""

    list_display = ("external_sku", "channel", "source", "variant", "how", "job", "created_at")
    list_filter = ("how", "channel")
    search_fields = ("=external_sku", "=variant__sku")
    raw_id_fields = ("variant", "job", "channel")

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("datahub.delete_skualias")
