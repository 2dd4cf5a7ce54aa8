from django.contrib import admin

from .models import ContactMessage


@admin.register(ContactMessage)
class ContactMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "email", "name", "order_number", "channel", "handled_at")
    list_filter = ("channel", "handled_at")
    search_fields = ("email", "name", "order_number", "message")
    readonly_fields = ("channel", "customer", "email", "name", "order_number", "message", "created_at")
    date_hierarchy = "created_at"
