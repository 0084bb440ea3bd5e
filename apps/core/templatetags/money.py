"""`{{ amount|money:currency }}` and `{{ cost|money_exact:currency }}`: amounts in each currency's own decimals."""

from django import template

from apps.core.money import amount_text

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    return "-" if amount is None else amount_text(amount, currency)


@register.filter
def money_exact(amount, currency: str) -> str:
    """Every significant decimal (AI costs, and what is computed from them)."""
    return "-" if amount is None else amount_text(amount, currency, exact=True)
