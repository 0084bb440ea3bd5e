"""Currencies an offer can be priced in: Stripe's settlement currencies with their minimum charge amounts
(https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), and how many decimals Stripe counts
(zero-decimal currencies are sent in whole units; three-decimal ones in thousandths, rounded to tens)."""

from decimal import Decimal

MINIMUM_CHARGE = {
    "usd": "0.50", "aed": "2.00", "aud": "0.50", "bgn": "1.00", "brl": "0.50", "cad": "0.50", "chf": "0.50",
    "czk": "15.00", "dkk": "2.50", "eur": "0.50", "gbp": "0.30", "hkd": "4.00", "huf": "175.00", "inr": "0.50",
    "jpy": "50", "mxn": "10", "myr": "2", "nok": "3.00", "nzd": "0.50", "pln": "2.00", "ron": "2.00",
    "sek": "3.00", "sgd": "0.50", "thb": "10",
}  # fmt: skip
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf"}  # fmt: skip
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
CURRENCY_CHOICES = [(code, code.upper()) for code in sorted(MINIMUM_CHARGE)]


def currency_decimals(currency: str) -> int:
    code = currency.lower()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def amount_to_minor_units(amount: Decimal, currency: str) -> int:
    """Stripe's `unit_amount`: the amount in the currency's smallest unit."""
    return int(amount.scaleb(currency_decimals(currency)).to_integral_exact())


def amount_from_minor_units(minor_units: int, currency: str) -> Decimal:
    """An amount Stripe sends in the currency's smallest unit, in the currency's units, exactly."""
    return Decimal(int(minor_units)).scaleb(-currency_decimals(currency))


def amount_problems(amount: Decimal | None, currency: str) -> dict[str, str]:
    """Why Stripe would refuse this price ({field: message}); empty when it would not."""
    code = (currency or "").lower()
    if code not in MINIMUM_CHARGE:
        allowed = ", ".join(c.upper() for c in sorted(MINIMUM_CHARGE))
        return {"currency": f"{currency!r} is not a currency offers can be sold in ({allowed})."}
    if amount is None:
        return {"price": "A price is required."}
    decimals = currency_decimals(code)
    if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
        return {"price": f"{code.upper()} prices have at most {decimals} decimal place(s)."}
    minimum = Decimal(MINIMUM_CHARGE[code])
    if amount < minimum:
        return {"price": f"Stripe's minimum charge in {code.upper()} is {minimum}."}
    return {}


def amount_display(amount: Decimal, currency: str) -> str:
    """An amount as people read it: the currency's own decimals, then its code ("49.50 USD", "5000 JPY")."""
    return f"{amount_text(amount, currency, grouping=False)} {currency.upper()}"


def amount_text(amount: Decimal, currency: str, *, exact: bool = False, grouping: bool = True) -> str:
    """An amount as a number people read: the currency's own decimals ("818,401" JPY, "49.50" USD, "1.250" KWD),
    thousands grouped unless `grouping` is off (CSV). `exact` keeps every significant decimal beyond the
    currency's: AI costs are fractions of a cent, and a ROI computed on 0.002835 must be shown next to 0.002835,
    not 0.00."""
    value = Decimal(amount)
    places = currency_decimals(currency)
    if exact:
        places = max(places, -value.normalize().as_tuple().exponent)
    return format(value.quantize(Decimal(1).scaleb(-places)), f"{',' if grouping else ''}.{places}f")


def currency_rules() -> dict[str, dict[str, str | int]]:
    """Decimals and Stripe's minimum per currency, for forms that check a price as it is typed."""
    return {code: {"decimals": currency_decimals(code), "minimum": MINIMUM_CHARGE[code]} for code in MINIMUM_CHARGE}
