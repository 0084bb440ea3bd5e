"""REST API for concerns: anyone with a token (a person, or the AI system's own account) reports one and reads
concerns with the reviewer's note."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from apps.core.api import ModelPermissionsWithView, NewestFirstPagination
from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.offers.models import OfferTemplate

from .models import Concern
from .services import concern_report


class ConcernSerializer(serializers.ModelSerializer):
    task = serializers.PrimaryKeyRelatedField(queryset=ExecutionTask.objects.all(), required=False, allow_null=True)
    task_type = serializers.SlugRelatedField(slug_field="slug", queryset=TaskType.objects.all(), required=False,
                                             allow_null=True)  # fmt: skip
    ai_model = serializers.SlugRelatedField(slug_field="name", queryset=AIModel.objects.all(), required=False,
                                            allow_null=True)  # fmt: skip
    offer = serializers.SlugRelatedField(slug_field="slug", queryset=OfferTemplate.objects.all(), required=False,
                                         allow_null=True)  # fmt: skip
    reported_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Concern
        fields = ["id", "task", "task_type", "ai_model", "offer", "category", "severity", "text", "status",
                  "reported_by", "created_at", "resolved_at", "resolution_note"]  # fmt: skip
        read_only_fields = ["status", "created_at", "resolved_at", "resolution_note"]

    def validate(self, data):
        chosen = [name for name in Concern.TARGETS if data.get(name)]
        if len(chosen) != 1:
            raise serializers.ValidationError(
                {"target": "Say what the concern is about: exactly one of task, task_type, ai_model, offer."}
            )
        return data


class ConcernViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):  # fmt: skip
    serializer_class = ConcernSerializer
    permission_classes = [ModelPermissionsWithView]
    pagination_class = NewestFirstPagination
    queryset = Concern.objects.select_related("task", "task_type", "ai_model", "offer", "reported_by")

    @extend_schema(responses={201: ConcernSerializer})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            concern = concern_report(reporter=request.user, **serializer.validated_data)
        except DjangoValidationError as problems:
            raise serializers.ValidationError(problems.message_dict) from problems
        return Response(ConcernSerializer(concern).data, status=status.HTTP_201_CREATED)
