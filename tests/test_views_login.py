"""Login and logout."""

from django.urls import reverse


def test_login_and_logout(client, labeler):
    response = client.post(reverse("login"), {"username": "lena", "password": "pw-lena"})
    assert response.status_code == 302 and response.url == reverse("home")
    assert b"Hello, lena" in client.get(reverse("home")).content
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password(client, labeler):
    response = client.post(reverse("login"), {"username": "lena", "password": "nope"})
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content
