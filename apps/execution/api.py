"""REST API for execution tasks: create through the same service as the admin, read status and events."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from apps.core.api import ModelPermissionsWithView, NewestFirstPagination

from .models import AIModel, ExecutionEvent, ExecutionTask, TaskType
from .services import ai_model_save, task_create


class TaskCreateSerializer(serializers.Serializer):
    """Shape only; what the values mean (known active ai_model, task type, object payload) is checked by
    `task_create`, so the API and the admin refuse the same things with the same messages."""

    task_type = serializers.JSONField(required=False)
    ai_model = serializers.JSONField(required=False)
    payload = serializers.JSONField(required=False)
    priority = serializers.JSONField(required=False, default=0)
    assignment_key = serializers.JSONField(
        required=False, help_text="Sticky key for a rollout on the task type (e.g. a customer id); else the task id."
    )


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.StringRelatedField()

    class Meta:
        model = ExecutionEvent
        fields = ["kind", "ai_model", "message", "error", "duration_ms", "actor", "created_at"]


class TaskSerializer(serializers.ModelSerializer):
    task_type = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    ai_model = serializers.CharField(source="ai_model_id", read_only=True)

    class Meta:
        model = ExecutionTask
        fields = [
            "id", "task_type", "ai_model", "status", "priority", "payload", "result", "error", "attempts",
            "created_at", "queued_at", "started_at", "finished_at", "duration_ms", "input_tokens", "output_tokens",
            "cost", "cancel_requested", "requested_ai_model", "model_assignment",
        ]  # fmt: skip


class TaskDetailSerializer(TaskSerializer):
    events = EventSerializer(many=True, read_only=True)

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "events"]


class TaskFilterSerializer(serializers.Serializer):
    """The list's query filters: an unknown status is a 400 naming the choices, not an empty page."""

    status = serializers.ChoiceField(choices=ExecutionTask.Status.values, required=False)
    task_type = serializers.CharField(required=False, max_length=64)
    ai_model = serializers.CharField(required=False, max_length=200)


class AIModelSerializer(serializers.ModelSerializer):
    endpoint_approved = serializers.BooleanField(read_only=True)

    class Meta:
        model = AIModel
        fields = ["name", "provider", "base_url", "api_key_env", "input_price_per_million",
                  "output_price_per_million", "is_active", "endpoint_approved", "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]


class AIModelViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin,
                     viewsets.GenericViewSet):  # fmt: skip
    """AI models by name. Creating one goes through `ai_model_save`: the same key-variable allow-list, endpoint
    permission and approval as the admin."""

    permission_classes = [ModelPermissionsWithView]
    queryset = AIModel.objects.order_by("name")
    serializer_class = AIModelSerializer
    lookup_field = "name"
    lookup_value_regex = r".+"  # names may hold slashes (Qwen/Qwen2.5-Coder-32B-Instruct)

    def perform_create(self, serializer):
        try:
            serializer.instance = ai_model_save(model=AIModel(**serializer.validated_data), actor=self.request.user)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        except DjangoPermissionDenied as error:
            raise PermissionDenied(str(error)) from error


@extend_schema(
    parameters=[
        OpenApiParameter("status", enum=ExecutionTask.Status.values),
        OpenApiParameter("task_type", description="task type slug"),
        OpenApiParameter("ai_model", description="AI model name"),
    ]
)
class TaskViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [ModelPermissionsWithView]
    pagination_class = NewestFirstPagination
    queryset = ExecutionTask.objects.select_related("task_type").order_by("-created_at", "-id")

    def get_serializer_class(self):
        return {"create": TaskCreateSerializer, "retrieve": TaskDetailSerializer}.get(self.action, TaskSerializer)

    def get_queryset(self):
        tasks = self.queryset
        if self.action == "retrieve":
            return tasks.prefetch_related("events__actor")
        given = TaskFilterSerializer(data=self.request.query_params)
        given.is_valid(raise_exception=True)
        filters = {"status": "status", "ai_model": "ai_model"}
        for parameter, lookup in filters.items():
            if value := given.validated_data.get(parameter):
                tasks = tasks.filter(**{lookup: value})
        if slug := given.validated_data.get("task_type"):
            # By id, not through a join on the slug: the (task_type, -created_at, -id) index then serves the page.
            task_type_id = TaskType.objects.filter(slug=slug).values_list("pk", flat=True).first()
            tasks = tasks.filter(task_type_id=task_type_id) if task_type_id else tasks.none()
        return tasks

    @extend_schema(request=TaskCreateSerializer, responses={201: TaskDetailSerializer})
    def create(self, request, *args, **kwargs):
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        shape = TaskCreateSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        try:
            fields = {name: shape.validated_data.get(name)
                      for name in ("task_type", "ai_model", "payload", "assignment_key")}  # fmt: skip
            task = task_create(created_by=request.user, priority=shape.validated_data["priority"], **fields)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        task = self.get_queryset().prefetch_related("events__actor").get(pk=task.pk)
        return Response(TaskDetailSerializer(task).data, status=status.HTTP_201_CREATED)
