"""What every API view shares."""

from django.conf import settings
from rest_framework import parsers, permissions
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, ParseError, Throttled
from rest_framework.throttling import SimpleRateThrottle

from .validation import json_problem


class ModelPermissionsWithView(permissions.DjangoModelPermissions):
    """Reads need the view permission too (DRF's default lets any authenticated user read)."""

    perms_map = {**permissions.DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}


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
    """Wrong API tokens per client address (rate `failed_token`). Only failures are counted."""

    scope = "failed_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def exhausted(self, request) -> bool:
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [moment for moment in self.cache.get(self.key, []) if moment > self.now - self.duration]
        return len(self.history) >= self.num_requests

    def failure_record(self) -> None:
        self.throttle_success()  # "success" of the throttle: one more failure remembered


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
            throttle.failure_record()
            raise

    def authenticate_header_present(self, request) -> bool:
        return request.META.get("HTTP_AUTHORIZATION", "").split(" ")[0].lower() == self.keyword.lower()
