from ninja import Schema


class WebhookAcceptedOut(Schema):
    topic: str
    queued: bool
