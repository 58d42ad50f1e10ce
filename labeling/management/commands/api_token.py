"""manage.py api_token USERNAME [--revoke] [--rotate]: a user's REST API token."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print a user's API token (created if missing), or revoke it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--revoke", action="store_true", help="delete the user's token")
        group.add_argument("--rotate", action="store_true", help="replace the token with a new one")

    def handle(self, *args, username, revoke, rotate, **options):
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username})
        user = user.first()
        if user is None:
            raise CommandError(f"username: no user {username!r}")
        if revoke or rotate:
            deleted, _ = Token.objects.filter(user=user).delete()
            if revoke:
                self.stdout.write(f"revoked {deleted} token(s) of {username}")
                return
        if not user.is_active:
            raise CommandError(f"username: {username!r} is inactive and cannot use the API")
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
