from .views import healthz


class HealthCheckMiddleware:
    """Answer /healthz before host validation and HTTPS redirects: load balancers probe by IP over HTTP."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz":
            return healthz(request)
        return self.get_response(request)
