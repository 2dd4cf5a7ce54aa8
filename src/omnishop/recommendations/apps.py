from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "omnishop.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"
