from django import forms
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
)

from apps.execution.models import PRIORITY_RANGE, AIModel, TaskType


class MultipleFileInput(UnfoldAdminFileFieldWidget):
    """Unfold's file input (its script fills the file name into a text box it expects next to every file
    input: a plain one raised a script error on each selection), several files at once."""

    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input; each is checked like a single file."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".txt,.md,text/plain,text/markdown"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(file, initial) for file in files if file] or super().clean(
            None, initial
        )


class ProposalUploadForm(forms.Form):
    files = MultipleFileField(
        label="FSAR report files",
        help_text="One or more .txt/.md files, each one report. Each file is imported or refused on its own.",
        error_messages={"required": "Choose at least one report file."},
    )


class ProposalDecisionForm(forms.Form):
    comment = forms.CharField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}), required=False, max_length=4000)

    def __init__(self, *args, comment_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["comment"].required = comment_required
        self.fields["comment"].error_messages["required"] = "Say why the proposal is rejected."


class ProposalTasksForm(forms.Form):
    """The tasks an accepted report becomes: one per prompt line, all of one type on one model."""

    task_type = forms.ModelChoiceField(TaskType.objects.all(), widget=UnfoldAdminSelectWidget, to_field_name="slug")
    ai_model = forms.ModelChoiceField(
        AIModel.objects.filter(is_active=True), widget=UnfoldAdminSelectWidget, to_field_name="name",
        label="AI model", error_messages={"required": "Choose the AI model (ai_model) the tasks run on."},
    )  # fmt: skip
    priority = forms.IntegerField(
        initial=0, min_value=PRIORITY_RANGE[0], max_value=PRIORITY_RANGE[1], widget=UnfoldAdminIntegerFieldWidget
    )
    prompts = forms.CharField(
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 6}),
        help_text="One task per non-empty line; each line is the task's prompt.",
    )
