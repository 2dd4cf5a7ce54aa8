"""/feeds/<channel code>/<token>/<meta.csv | google.xml> (mounted in omnishop.urls)."""

from django.urls import path

from . import views

app_name = "feeds"

urlpatterns = [
    path("<slug:channel_code>/<str:token>/<str:name>", views.feed, name="feed"),
]
