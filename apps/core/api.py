"""What every API view shares."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from redis import RedisError
from rest_framework import parsers, permissions
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotFound, ParseError, Throttled, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from .validation import json_problem

logger = logging.getLogger(__name__)


class FailOpenThrottleMixin:
    """The counts live in Redis; an API that must keep taking tasks and reports while Redis is away (they are
    queued again when it is back) should not answer 500 for a counter."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("API throttle skipped: Redis unavailable", exc_info=True)
            return True


class UserThrottle(FailOpenThrottleMixin, UserRateThrottle):
    """Per signed-in user (token or session): rate `user`."""


class AnonymousThrottle(FailOpenThrottleMixin, AnonRateThrottle):
    """Per client address, for requests without a signed-in user: rate `anon`."""


class AnonymousRateLimit(permissions.BasePermission):
    """Counts requests without a signed-in user per client address and answers 429 past the `anon` rate. A
    permission rather than a throttle because DRF checks permissions first: as a throttle it would never see an
    anonymous request, each would get its 401 uncounted."""

    def has_permission(self, request, view):
        if request.user and request.user.is_authenticated:
            return True
        throttle = AnonymousThrottle()
        if not throttle.allow_request(request, view):
            raise Throttled(wait=throttle.wait())
        return True


class ModelPermissionsWithView(permissions.DjangoModelPermissions):
    """What every model endpoint checks: the anonymous rate, a login, then the model permission of the method
    (reads need the view permission too; DRF's default lets any authenticated user read)."""

    perms_map = {**permissions.DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}

    def has_permission(self, request, view):
        return AnonymousRateLimit().has_permission(request, view) and super().has_permission(request, view)


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 what would otherwise fail later as a 500: nesting so deep that
    decoding recurses out, nesting past API_JSON_MAX_DEPTH, NUL characters and lone surrogates."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {settings.API_JSON_MAX_DEPTH} levels") from None
        problem = json_problem(data, where="body", max_depth=settings.API_JSON_MAX_DEPTH)
        if problem:
            raise ParseError(f"JSON refused: {problem}")
        return data


class FailedTokenThrottle(SimpleRateThrottle):
    """Wrong API tokens per client address (rate `failed_token`), counted atomically in fixed windows. Fails open
    like UserThrottle when Redis is away."""

    scope = "failed_token"

    def get_cache_key(self, request, view):
        window = int(self.timer() // self.duration)
        return self.cache_format % {"scope": self.scope, "ident": f"{self.get_ident(request)}:{window}"}

    def exhausted(self, request) -> bool:
        try:
            return (self.cache.get(self.get_cache_key(request, None)) or 0) >= self.num_requests
        except RedisError:
            return False

    def failure_record(self, request) -> None:
        key = self.get_cache_key(request, None)
        try:
            self.cache.add(key, 0, self.duration)
            self.cache.incr(key)
        except (RedisError, ValueError):  # ValueError: the key expired between add and incr
            pass

    def wait(self) -> float:
        return self.duration - self.timer() % self.duration


class ThrottledTokenAuthentication(TokenAuthentication):
    """Token authentication that stops guessing: past the rate of wrong tokens from one address, every token
    request from it is answered 429 (with Retry-After) before any token is looked up. DRF's own throttles run
    only after authentication has succeeded, so they never see a wrong token."""

    def authenticate(self, request):
        if not self.authenticate_header_present(request):
            return None
        throttle = FailedTokenThrottle()
        if throttle.exhausted(request):
            raise Throttled(wait=throttle.wait(), detail="Too many wrong API tokens from this address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle.failure_record(request)
            raise

    def authenticate_header_present(self, request) -> bool:
        return request.META.get("HTTP_AUTHORIZATION", "").split(" ")[0].lower() == self.keyword.lower()


class NewestFirstPagination(CursorPagination):
    """A big list's pages by position (keyset), newest first: the thousandth page costs what the first does, and
    nothing counts the table. Clients follow `next` and `previous`; `page_size` up to API_MAX_PAGE_SIZE."""

    ordering = ("-created_at", "-id")
    page_size = settings.REST_FRAMEWORK["PAGE_SIZE"]
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        if "page" in request.query_params:  # a client written for page numbers would loop on the first page
            raise ValidationError({"page": ["This list pages by cursor: follow the `next` link of each page."]})
        try:
            return super().paginate_queryset(queryset, request, view)
        except DjangoValidationError:  # a cursor whose position is not a value of the ordering column
            raise NotFound(self.invalid_cursor_message) from None
