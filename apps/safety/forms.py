from django import forms
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from apps.execution.models import ExecutionTask, TaskType

from .audits import CHECK_CHOICES, audit_validate
from .models import Concern, SafetyAudit


class NoteForm(forms.Form):
    note = forms.CharField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}), max_length=2000)

    def __init__(self, *args, label: str = "Note", help_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].label, self.fields["note"].help_text = label, help_text


class RateForm(forms.Form):
    level = forms.ChoiceField(choices=TaskType.RiskLevel.choices, widget=UnfoldAdminSelectWidget,
                              label="Risk rating")  # fmt: skip
    note = forms.CharField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}), required=False, max_length=2000,
                           help_text="Why this rating (kept in the audit log).")  # fmt: skip


class SelectedTasksForm(forms.Form):
    """The hidden fields that carry an admin action's selection through its confirmation page."""

    action = forms.CharField(widget=forms.HiddenInput)
    _selected_action = forms.TypedMultipleChoiceField(coerce=int, widget=forms.MultipleHiddenInput)  # Django's name

    def __init__(self, *args, task_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[ACTION_CHECKBOX_NAME].choices = [(pk, pk) for pk in task_ids]


class AssignForm(SelectedTasksForm):
    assignee = forms.ModelChoiceField(get_user_model().objects.none(), widget=UnfoldAdminSelectWidget,
                                      required=False, empty_label="nobody (back to the pool)")  # fmt: skip


class RejectForm(SelectedTasksForm):
    reason = forms.CharField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}), max_length=2000,
                             help_text="Required: the task's creator reads it.")  # fmt: skip


class ConcernForm(forms.ModelForm):
    task = forms.IntegerField(required=False, min_value=1, label="Task id", widget=UnfoldAdminTextInputWidget)

    class Meta:
        model = Concern
        fields = ("task", "task_type", "ai_model", "offer", "category", "severity", "text")
        help_texts = {"text": "What is wrong, and where to look. A critical concern on a task type or AI model stops "
                              "its new tasks from starting until a reviewer resolves it."}  # fmt: skip

    def clean_task(self):
        pk = self.cleaned_data.get("task")
        if pk is None:
            return None
        task = ExecutionTask.objects.filter(pk=pk).first()
        if task is None:
            raise ValidationError(f"There is no task #{pk}.")
        return task

    def clean(self):
        data = super().clean()
        chosen = [name for name in Concern.TARGETS if data.get(name)]
        if len(chosen) != 1:
            raise ValidationError("Say what the concern is about: exactly one of task, task type, AI model, offer.")
        return data


class SafetyAuditForm(forms.ModelForm):
    check_name = forms.ChoiceField(choices=CHECK_CHOICES, label="Check", widget=UnfoldAdminSelectWidget)

    class Meta:
        model = SafetyAudit
        fields = ("name", "check_name", "schedule", "gate", "bound", "enabled")

    def clean(self):
        data = super().clean()
        try:
            audit_validate(SafetyAudit(check_name=data.get("check_name", ""), schedule=data.get("schedule", "")))
        except ValidationError as problems:
            for name, messages in problems.message_dict.items():
                if name not in self.errors:
                    self.add_error(name, messages)
        return data
