"""Plain views that belong to no bounded context."""

from django.db import connection
from django.http import JsonResponse


def health(request):
    """Liveness and database reachability for load balancers and `make demo`'s start-up check."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
