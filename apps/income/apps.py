from django.apps import AppConfig


class IncomeConfig(AppConfig):
    name = "apps.income"
    verbose_name = "Income"
