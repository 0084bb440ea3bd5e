from django import forms
from django.core.exceptions import ValidationError

from .models import AIModel, ExecutionTask
from .services import task_validate


class ExecutionTaskCreateForm(forms.ModelForm):
    """Admin add form; the checks beyond field types are the service's own (`task_validate`)."""

    class Meta:
        model = ExecutionTask
        fields = ["task_type", "ai_model", "priority", "payload"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ai_model"].queryset = AIModel.objects.filter(is_active=True)
        self.fields["ai_model"].error_messages["required"] = "Choose the AI model (ai_model) this task runs on."
        self.fields["payload"].initial = {}
        self.fields["payload"].required = False  # `{}` is a valid payload; the form field would call it empty

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                task_validate(
                    task_type=cleaned.get("task_type"),
                    ai_model=cleaned.get("ai_model"),
                    payload=cleaned.get("payload"),
                    priority=cleaned.get("priority"),
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned
