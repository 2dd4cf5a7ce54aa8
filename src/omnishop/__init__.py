"""Omnishop: one customer, one catalog, one stock and one order pipeline behind every sales channel."""

from .celery import app as celery_app

__all__ = ["celery_app"]
__version__ = "0.1.0"
