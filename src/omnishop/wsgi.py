"""WSGI entry point for gunicorn (`omnishop serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")
application = get_wsgi_application()
