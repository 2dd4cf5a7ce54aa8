"""WSGI entry point of the Django application (`omnishop serve` runs it behind storefront/wsgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")
django_application = get_wsgi_application()

# Imported once Django is set up (the edge renders the API's error envelope).
from omnishop.edge import dechunked  # noqa: E402

application = dechunked(django_application)
