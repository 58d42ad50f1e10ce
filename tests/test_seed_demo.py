"""The demo campaign: its content, its accounts and that seeding twice changes nothing."""

from collections import defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from labeling import roles
from labeling.demo.campaign import DEMO_ACCOUNTS, seed_demo
from labeling.demo.content import PROMPTS, SOURCE_USERS
from labeling.models import (
    Demonstration,
    Membership,
    Project,
    Prompt,
    RankingTask,
    Response,
    TaskResponse,
)


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    # Real hashing costs ~0.4 s per password; the tests set many of them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _counts():
    return {
        "projects": Project.objects.count(),
        "prompts": Prompt.objects.count(),
        "responses": Response.objects.count(),
        "tasks": RankingTask.objects.count(),
        "task_responses": TaskResponse.objects.count(),
        "demonstrations": Demonstration.objects.count(),
        "users": get_user_model().objects.count(),
        "memberships": Membership.objects.count(),
        "groups": Group.objects.count(),
    }


def test_demo_data_is_well_formed():
    categories = {p["category"] for p in PROMPTS}
    assert categories == set(Prompt.Category.values)
    assert len(PROMPTS) >= 40
    assert len({p["id"] for p in PROMPTS}) == len(PROMPTS)
    assert {p["source_user"] for p in PROMPTS} == set(SOURCE_USERS)
    for entry in PROMPTS:
        assert ("prompt" in entry) != ("messages" in entry), entry["id"]
        assert 4 <= len(entry["responses"]) <= 7, entry["id"]
        assert all(r["model"] and r["text"].strip() for r in entry["responses"])
        if "messages" in entry:
            assert entry["messages"][-1]["role"] == "user"
    # Some responses are meant to be flagged.
    assert sum(1 for p in PROMPTS for r in p["responses"] if r.get("issue")) >= 30


def test_seed_demo_creates_the_campaign(db):
    passwords = seed_demo()
    project = Project.objects.get(slug="demo")
    assert project.name == "Demo campaign"
    assert project.overlap == 2
    assert "Truthful" in project.guidelines and "Ties" in project.guidelines

    prompts = list(Prompt.objects.filter(project=project))
    assert len(prompts) >= 40
    assert {p.category for p in prompts} == set(Prompt.Category.values)
    for prompt in prompts:
        assert 4 <= prompt.responses.count() <= 7, prompt.external_id
        assert all(r.model_name for r in prompt.responses.all())
    assert Response.objects.filter(model_name="human-draft", origin="human").exists()
    assert not Response.objects.filter(model_name="human-draft").exclude(origin="human").exists()

    multi_turn = [p for p in prompts if p.messages]
    assert len(multi_turn) >= 3
    assert all(len(p.messages) >= 3 and p.messages[-1]["role"] == "user" for p in multi_turn)
    assert all(p.category == "chat" and p.text == "" for p in multi_turn)

    # HTML is stored verbatim (escaping is the templates' job).
    assert Prompt.objects.filter(text__contains="<script>alert(1)</script>").exists()
    assert Response.objects.filter(text__contains="<script>alert(1)</script>").exists()

    # Every prompt has exactly one labeling task over all its responses, with overlap 2.
    tasks = RankingTask.objects.filter(project=project, source="labeling")
    assert tasks.count() == len(prompts)
    for task in tasks:
        assert task.overlap == 2 and 4 <= task.k <= 7
        assert task.k == task.prompt.responses.count()

    demos = Demonstration.objects.filter(prompt__project=project)
    assert demos.count() >= 5
    assert all(d.author.username == "demo-writer" for d in demos)
    assert all(d.status == "accepted" and d.reviewed_by.username == "reviewer" for d in demos)

    users = get_user_model().objects
    assert set(passwords) == {name for name, _, _ in DEMO_ACCOUNTS}
    for username, role, _ in DEMO_ACCOUNTS:
        user = users.get(username=username)
        assert user.check_password(passwords[username])
        assert roles.role_in(user, project) == role
        assert user.groups.filter(name=role).exists()
    admin = users.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert users.get(username="reviewer").is_staff
    assert not users.get(username="labeler").is_staff
    assert len(set(passwords.values())) == len(passwords)
    writer = users.get(username="demo-writer")
    assert not writer.has_usable_password()


def test_splits_follow_the_source_user(db):
    seed_demo()
    by_user = defaultdict(set)
    for source_user, split in Prompt.objects.values_list("source_user", "split"):
        by_user[source_user].add(split)
    assert set(by_user) == set(SOURCE_USERS)
    assert all(len(splits) == 1 for splits in by_user.values()), by_user
    # Ten users are enough for the demo to show every split.
    assert {s for splits in by_user.values() for s in splits} == {"train", "validation", "test"}


def test_seeding_twice_creates_nothing_new(db):
    first = seed_demo()
    before = _counts()
    second = seed_demo(reset_passwords=True)
    assert _counts() == before
    # Fresh passwords each time; the old ones stop working.
    user = get_user_model().objects.get(username="labeler")
    assert first["labeler"] != second["labeler"]
    assert user.check_password(second["labeler"]) and not user.check_password(first["labeler"])

    kept = seed_demo(reset_passwords=False)
    assert _counts() == before
    assert kept == {name: None for name, _, _ in DEMO_ACCOUNTS}
    user.refresh_from_db()
    assert user.check_password(second["labeler"])


def test_command_prints_the_accounts(db, capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000/" in out
    passwords = {}
    for username, role, _ in DEMO_ACCOUNTS:
        line = next(line for line in out.splitlines() if line.strip().startswith(username + " "))
        assert f"role: {role}" in line
        passwords[username] = line.split("password:")[1].split()[0]
    users = get_user_model().objects
    assert all(users.get(username=u).check_password(p) for u, p in passwords.items())

    # a second run (make demo again) keeps the passwords and prints none
    before = _counts()
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert out.count("unchanged (--reset-passwords resets it)") == len(DEMO_ACCOUNTS)
    assert _counts() == before
    assert all(users.get(username=u).check_password(p) for u, p in passwords.items())
    # --reset-passwords gives new ones, printed
    call_command("seed_demo", "--reset-passwords")
    out = capsys.readouterr().out
    assert "unchanged" not in out
    for username, _, _ in DEMO_ACCOUNTS:
        line = next(line for line in out.splitlines() if line.strip().startswith(username + " "))
        fresh = line.split("password:")[1].split()[0]
        assert fresh != passwords[username] and users.get(username=username).check_password(fresh)


def test_keep_passwords_on_a_fresh_database_still_gives_passwords(db):
    passwords = seed_demo(reset_passwords=False)
    users = get_user_model().objects
    for username, _, _ in DEMO_ACCOUNTS:
        assert passwords[username] and users.get(username=username).check_password(
            passwords[username]
        )


def test_an_existing_demo_project_is_brought_to_overlap_two(db):
    Project.objects.create(slug="demo", name="Older demo", overlap=1, guidelines="")
    seed_demo()
    project = Project.objects.get(slug="demo")
    assert project.overlap == 2 and project.guidelines
    assert project.name == "Older demo"  # an existing project keeps its name


def test_a_demo_project_the_campaign_no_longer_fits_is_a_command_error(db):
    """The project service's and the task service's refusals are said as `field: message`."""
    from django.core.management.base import CommandError

    Project.objects.create(slug="demo", name="Demo", k_min=2, k_max=3)
    with pytest.raises(CommandError, match=r"k: 4\.\.7 is outside the project's range 2\.\.3"):
        call_command("seed_demo")
