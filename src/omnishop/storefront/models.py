"""What the shop keeps of its own: messages shoppers send through the contact form."""

from django.db import models


class ContactMessage(models.Model):
    """A shopper's message from the shop's contact page. The back-office lists them; the support desk
    (issue 12) takes them over as conversations, so nothing the shopper wrote is reshaped here."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.CharField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    order_number = models.CharField(max_length=40, blank=True)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.email}: {self.message[:60]}"
