import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"


class Command(BaseCommand):
    help = "Development only: create the `admin` superuser with a random password, printed once."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("refusing to create a development superuser while DEBUG is off")
        User = get_user_model()
        if User.objects.filter(username=USERNAME).exists():
            self.stdout.write(
                f"Log in as `{USERNAME}` with the password printed when it was created "
                f"(forgot it? python manage.py changepassword {USERNAME})."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(USERNAME, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created superuser `{USERNAME}` with password: {password}"))
        self.stdout.write("This password is shown once; keep it or reset it with changepassword.")
