"""Shared fixtures: users in every role and a project with ranking tasks.

Tests run against whatever ``DATABASE_URL`` names; ``make test`` points it at PostgreSQL.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def real_services(settings):
    """For tests that run a real worker process: PostgreSQL and a Redis broker. Under
    `make test` / CI (PREFLAB_REQUIRE_SERVICES=1) their absence is a failure; a quick local
    run on the embedded default skips instead."""
    from django.db import connection

    if connection.vendor == "postgresql" and settings.CELERY_BROKER_URL.startswith("redis://"):
        return
    if os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1":
        pytest.fail("make test must run this on PostgreSQL + Redis")
    pytest.skip("needs the PostgreSQL + Redis setup of `make test`")


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    """The tiny local model (training/engine/tiny.py), built once per test session."""
    from training.engine.tiny import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def project(db):
    from labeling.models import Project

    return Project.objects.create(slug="campaign", name="Campaign")


def _user(username, *, staff=False, superuser=False):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username=username,
        password="pw-" + username,
        is_staff=staff or superuser,
        is_superuser=superuser,
    )


@pytest.fixture
def labeler(project):
    from labeling import roles

    user = _user("lena")
    roles.grant(user, project, "labeler")
    return user


@pytest.fixture
def other_labeler(project):
    from labeling import roles

    user = _user("omar")
    roles.grant(user, project, "labeler")
    return user


@pytest.fixture
def reviewer(project):
    from labeling import roles

    user = _user("rita", staff=True)
    roles.grant(user, project, "reviewer")
    return user


@pytest.fixture
def project_admin(project):
    """An admin of the project who is neither staff nor superuser (the training console's
    users)."""
    from labeling import roles

    user = _user("pia")
    roles.grant(user, project, "admin")
    return user


@pytest.fixture
def admin_user(project):
    return _user("ada", superuser=True)


@pytest.fixture
def make_task(project):
    """make_task(k=4, overlap=None, prompt_text=None, **kwargs) -> RankingTask."""
    from labeling.intake import dedup
    from labeling.intake.ranking_tasks import create_ranking_task
    from labeling.models import Prompt, Response

    counter = {"n": 0}

    def make(k=4, overlap=None, prompt_text=None, texts=None, **kwargs):
        counter["n"] += 1
        text = prompt_text or f"Prompt number {counter['n']}: explain something."
        prompt = Prompt.objects.create(
            project=project,
            text=text,
            dedup_key=dedup.dedup_key(text + str(counter["n"]), project.dedup_prefix_chars),
            source_user=f"user{counter['n'] % 7}",
        )
        texts = texts or [f"Response {i} to prompt {counter['n']}" for i in range(k)]
        responses = [
            Response.objects.create(prompt=prompt, text=t, text_hash=dedup.text_hash(t))
            for t in texts
        ]
        return create_ranking_task(project, prompt, responses, overlap=overlap, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    """The API's throttles count requests in the cache (api/throttles.py), which outlives each
    test's database: every test starts with none counted, as every test starts logged out."""
    from django.core.cache import caches

    for alias in ("default", "local"):
        caches[alias].clear()
