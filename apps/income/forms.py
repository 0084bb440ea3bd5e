from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core.money import CURRENCY_CHOICES

from .models import IncomeEvent
from .services import manual_entry_validate


class ManualIncomeForm(forms.ModelForm):
    """Money that did not come through Stripe; validated by the same rules as `income_record_manual`."""

    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial=lambda: settings.INCOME_CURRENCY)

    class Meta:
        model = IncomeEvent
        fields = ("amount", "currency", "occurred_at", "reason", "offer", "task", "ai_model", "task_type")
        help_texts = {
            "amount": "In the currency's units, e.g. 49.00; negative to correct an earlier entry.",
            "ai_model": "Empty: the task's, else the offer's.",
            "task_type": "Empty: the task's, else the offer's.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            return  # a recorded row's page: every field is read-only, and its kind stays its own
        self.instance.kind = IncomeEvent.Kind.MANUAL
        self.fields["reason"].required = True
        self.fields["occurred_at"].initial = timezone.now

    def clean(self):
        cleaned = super().clean()
        probe = IncomeEvent(
            kind=IncomeEvent.Kind.MANUAL,
            amount=cleaned.get("amount"),
            reason=(cleaned.get("reason") or "").strip(),
            currency=cleaned.get("currency", ""),
        )
        try:
            manual_entry_validate(probe)
        except ValidationError as problems:
            for field, messages in problems.message_dict.items():
                if field not in self.errors:  # say everything wrong at once, each thing once
                    self.add_error(field, messages)
        return cleaned


class RoiPeriodForm(forms.Form):
    since = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def for_request(cls, query):
        today = timezone.now().date()
        defaults = {"since": today - timedelta(days=29), "until": today}
        return cls({**defaults, **{key: query[key] for key in defaults if query.get(key)}})

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] > cleaned["until"]:
            raise ValidationError("'From' must be on or before 'To'.")
        return cleaned
