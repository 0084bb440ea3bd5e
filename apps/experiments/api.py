"""`POST /api/experiments/<key>/assign`: the storefront asks which price a subject sees and gets a checkout."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from .models import PriceExperiment
from .pricing import CheckoutFailed, ExperimentUnavailable, exposure_assign

ASSIGN_PERMISSION = "experiments.assign_priceexperiment"


class CanAssign(permissions.BasePermission):
    message = "This API token may not assign subjects to experiments (experiments.assign_priceexperiment)."

    def has_permission(self, request, view):
        return request.user.has_perm(ASSIGN_PERMISSION)


class AssignRequestSerializer(serializers.Serializer):
    subject = serializers.JSONField(help_text="The customer or session id; the same subject always gets one variant.")


class AssignResponseSerializer(serializers.Serializer):
    experiment = serializers.CharField()
    status = serializers.CharField()
    variant = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=3)
    currency = serializers.CharField()
    stripe_price_id = serializers.CharField()
    checkout_url = serializers.URLField()
    checkout_session_id = serializers.CharField()
    new_exposure = serializers.BooleanField()
    note = serializers.CharField()


class AssignView(APIView):
    """Deterministic, sticky assignment; the exposure is recorded on the subject's first call only."""

    permission_classes = [permissions.IsAuthenticated, CanAssign]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "experiments_assign"

    @extend_schema(request=AssignRequestSerializer, responses={200: AssignResponseSerializer})
    def post(self, request, key: str):
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        shape = AssignRequestSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        try:
            assignment = exposure_assign(key=key, subject=shape.validated_data["subject"])
        except PriceExperiment.DoesNotExist as error:
            return Response({"detail": str(error)}, status=status.HTTP_404_NOT_FOUND)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        except CheckoutFailed as error:
            return Response({"detail": str(error)}, status=status.HTTP_502_BAD_GATEWAY)
        except ExperimentUnavailable as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        variant, experiment = assignment.variant, assignment.experiment
        price = variant.price if experiment.status == PriceExperiment.Status.RUNNING else experiment.offer.price
        return Response({
            "experiment": experiment.key, "status": experiment.status, "variant": variant.key, "price": str(price),
            "currency": experiment.offer.currency, "stripe_price_id": assignment.stripe_price_id,
            "checkout_url": assignment.checkout_url, "checkout_session_id": assignment.checkout_session_id,
            "new_exposure": assignment.new_exposure, "note": assignment.note,
        })  # fmt: skip
