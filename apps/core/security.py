"""Who is asking: the client address that login lockouts count by."""

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str:
    """The address DRF's throttles count by (REMOTE_ADDR, or what the outermost of TRUSTED_PROXY_COUNT proxies
    saw, through DRF's NUM_PROXIES), so that lockouts and API throttles agree on who a client is."""
    return BaseThrottle().get_ident(request)
