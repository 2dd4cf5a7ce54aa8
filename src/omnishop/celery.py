"""The Celery application: Redis in production (REDIS_URL), eager in-process execution otherwise."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")

app = Celery("omnishop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
