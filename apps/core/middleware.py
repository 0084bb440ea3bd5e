from django.http import HttpResponseBadRequest, JsonResponse

from .validation import text_problem
from .views import healthz


class HealthCheckMiddleware:
    """Answer /healthz before host validation and HTTPS redirects: load balancers probe by IP over HTTP."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz":
            return healthz(request)
        return self.get_response(request)


class RejectNulMiddleware:
    """A NUL in the path, the query string or a URL-encoded form would reach PostgreSQL through a filter or a
    lookup and fail there as a 500; refuse it here as a 400 that says where it was. (Form fields refuse NUL on
    their own; JSON bodies are checked by the API's parser.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = self._problem(request)
        if problem is None:
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": problem}, status=400)
        return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")

    @staticmethod
    def _problem(request) -> str | None:
        if text_problem(request.path_info):
            return "The address contains a NUL character."
        parts = [("query parameter", request.GET)]
        if request.content_type == "application/x-www-form-urlencoded":
            parts.append(("form field", request.POST))
        for kind, data in parts:
            for name, values in data.lists():
                if any(text_problem(text) for text in [name, *values]):
                    return f"The {kind} {name.replace(chr(0), '')!r} contains a NUL character."
        return None
