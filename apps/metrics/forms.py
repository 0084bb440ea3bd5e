from django import forms
from django.contrib.auth import get_user_model
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminSplitDateTimeWidget

from .models import AlertRule


class FindingAssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username"),
        required=False, empty_label="nobody", widget=UnfoldAdminSelectWidget,
    )  # fmt: skip


class FindingMuteForm(forms.Form):
    until = forms.SplitDateTimeField(widget=UnfoldAdminSplitDateTimeWidget, help_text="UTC. It counts on meanwhile.")


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ("name", "metric", "kind", "deviations", "threshold", "sustain_hours", "min_runs", "ai_model",
                  "task_type", "enabled")  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("kind") in (AlertRule.Kind.ABOVE, AlertRule.Kind.BELOW) and data.get("threshold") is None:
            self.add_error("threshold", "A fixed-value rule needs the value.")
        if data.get("sustain_hours") == 0:
            self.add_error("sustain_hours", "At least one hour.")
        return data
