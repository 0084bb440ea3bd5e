from django.conf import settings


def environment_label(request):
    """Badge in the admin header so nobody mistakes a development console for production."""
    return ["Development", "warning"] if settings.DEBUG else ["Production", "danger"]
