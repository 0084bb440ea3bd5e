"""REST API for FSAR reports: the AI system posts the raw report; the answer says what became of it."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, parsers, serializers, status, viewsets
from rest_framework.response import Response

from apps.core.api import ModelPermissionsWithView, NewestFirstPagination

from .models import Proposal
from .services import FSARParseError, proposal_ingest

OUTCOME_STATUS = {
    "imported": status.HTTP_201_CREATED,
    "unchanged": status.HTTP_200_OK,
    "conflict": status.HTTP_409_CONFLICT,
}


class ReportTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "report_too_large"


class PlainTextParser(parsers.BaseParser):
    """The request body as bytes, undecoded: the report parser names a line that is not UTF-8. Reads at most
    one byte past the size limit, so an oversized post costs no more memory than the limit."""

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.PROPOSALS_REPORT_MAX_BYTES
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise ReportTooLarge(
                {
                    "detail": f"The report is larger than the limit of {limit:,} bytes (PROPOSALS_REPORT_MAX_BYTES).",
                    "field": "size",
                    "limit": limit,
                }  # fmt: skip
            )
        return data


class MarkdownParser(PlainTextParser):
    media_type = "text/markdown"


class ProposalSerializer(serializers.ModelSerializer):
    class Meta:
        model = Proposal
        fields = [
            "id", "report_id", "reported_at", "severity", "block_execution", "category", "body", "risks",
            "mitigations", "source", "received_at", "status", "reviewer_comment",
        ]  # fmt: skip


class NewestReportsFirstPagination(NewestFirstPagination):
    ordering = ("-reported_at", "-id")


class ProposalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Proposal.objects.all()
    pagination_class = NewestReportsFirstPagination
    serializer_class = ProposalSerializer
    permission_classes = [ModelPermissionsWithView]
    parser_classes = [PlainTextParser, MarkdownParser]

    @extend_schema(
        request={"text/plain": str, "text/markdown": str},
        responses={
            201: ProposalSerializer,
            200: OpenApiResponse(ProposalSerializer, description="already imported with the same text"),
            409: OpenApiResponse(description="the same report id was imported with another text"),
            400: OpenApiResponse(description="the report does not parse: the error names the line and field"),
            413: OpenApiResponse(description="the report is over PROPOSALS_REPORT_MAX_BYTES"),
        },
        examples=[OpenApiExample("error", value={"detail": "line 4: severity: 11 is out of range 0-10",
                                                 "line": 4, "field": "severity"}, response_only=True,
                                 status_codes=["400"])],
    )  # fmt: skip
    def create(self, request):
        client = getattr(request.user, "username", "") or "anonymous"
        try:
            result = proposal_ingest(data=request.data or b"", source=f"api: {client}")
        except FSARParseError as error:
            return Response(
                {"detail": str(error), "line": error.line, "field": error.field}, status=status.HTTP_400_BAD_REQUEST
            )
        body = ProposalSerializer(result.proposal).data
        if result.outcome == "conflict":
            body = {"detail": result.detail, "report_id": result.proposal.report_id}
        return Response(body, status=OUTCOME_STATUS[result.outcome])
