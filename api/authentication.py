"""Token authentication in one plain statement.

DRF's ``TokenAuthentication`` reads the token and its user through the ORM, which costs more
Python than the query itself on every API request; labeling clients send a token with each
`next` and submit. Same semantics and messages, same ``Token`` model (admin, ``api_token``).

A token that is not valid, like a request with no credentials (``AnonymousRate``), counts
against its address's anonymous rate (api/throttles.py): past it the answer is 429, not 401.
"""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from api import throttles
from preflab.sql_rows import cursor as sql_cursor
from preflab.sql_rows import instance


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttles.count_anonymous(request)
            raise


class AnonymousRate(authentication.BaseAuthentication):
    """Last of the authenticators: nobody authenticated, so the request is anonymous and
    counts against its address's rate before a permission can answer 401 (api/throttles.py).
    It authenticates no one and is left out of the OpenAPI schema's security schemes."""

    def authenticate(self, request):
        throttles.count_anonymous(request)
        return None

    def authenticate_credentials(self, key):
        user_model = get_user_model()
        fields = user_model._meta.concrete_fields
        columns = tuple(field.attname for field in fields)
        with sql_cursor() as cursor:
            cursor.execute(
                f"""SELECT t.created, {", ".join(f"u.{field.column}" for field in fields)}
                    FROM {Token._meta.db_table} t
                    JOIN {user_model._meta.db_table} u ON u.{user_model._meta.pk.column} = t.user_id
                    WHERE t.key = %s""",
                [key],
            )
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = instance(user_model, columns, row[1:])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = instance(Token, ("key", "user_id", "created"), (key, user.pk, row[0]))
        token.user = user
        return user, token
