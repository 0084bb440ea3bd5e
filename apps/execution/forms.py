import json

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminTextareaWidget, UnfoldBooleanWidget

from .models import PRIORITY_RANGE, AIModel, ExecutionTask
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


class AIModelForm(forms.ModelForm):
    """The endpoint fields are read-only to those who may not set endpoints; what the model's checks say about
    them is then shown above the form, naming the field, instead of failing on a field the form lacks."""

    class Meta:
        model = AIModel
        fields = ["name", "provider", "base_url", "api_key_env", "input_price_per_million",
                  "output_price_per_million", "is_active"]  # fmt: skip

    def _update_errors(self, errors):
        if hasattr(errors, "error_dict"):
            for field in [name for name in errors.error_dict if name != NON_FIELD_ERRORS and name not in self.fields]:
                messages = errors.error_dict.pop(field)
                errors.error_dict.setdefault(NON_FIELD_ERRORS, []).extend(
                    ValidationError(f"{AIModel._meta.get_field(field).verbose_name}: {message}")
                    for message in ValidationError(messages).messages
                )
        super()._update_errors(errors)


class EndpointApprovalForm(forms.Form):
    """Carries the endpoint the approver was shown, so that a change made meanwhile is not approved unseen."""

    endpoint = forms.CharField(widget=forms.HiddenInput, max_length=2000)

    @staticmethod
    def encode(endpoint: tuple[str, ...]) -> str:
        return json.dumps(endpoint)

    def clean_endpoint(self) -> tuple[str, ...]:
        try:
            endpoint = json.loads(self.cleaned_data["endpoint"])
        except ValueError:
            endpoint = None
        if not (isinstance(endpoint, list) and all(isinstance(part, str) for part in endpoint)):
            raise ValidationError("Open the approval page again.")
        return tuple(endpoint)


class ExecutionSwitchForm(forms.Form):
    """Pausing or resuming all execution: a reason for the record and an explicit confirmation."""

    reason = forms.CharField(
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        max_length=2000,
        help_text="Shown to everyone on every admin page while paused, and kept in the switch's history.",
        error_messages={"required": "Say why: a reason is required to pause or resume execution."},
    )
    confirm = forms.BooleanField(
        widget=UnfoldBooleanWidget,
        error_messages={"required": "Tick the box to confirm."},
    )

    def __init__(self, *args, paused: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["confirm"].label = (
            "Yes, resume: queued tasks start again"
            if paused
            else "Yes, pause: no task starts until someone resumes (running tasks finish)"
        )


class TaskDecisionForm(forms.Form):
    """Confirmation of an action on one task, with an optional comment kept in its timeline."""

    comment = forms.CharField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}), required=False, max_length=2000)


class TaskPriorityForm(forms.Form):
    priority = forms.IntegerField(
        min_value=PRIORITY_RANGE[0], max_value=PRIORITY_RANGE[1], widget=UnfoldAdminIntegerFieldWidget,
        help_text=f"Higher runs first ({PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]}).",
    )  # fmt: skip
