"""The demo campaign: its content, its accounts, the simulated labelers' rankings, the finished
training run on the tiny model, and that seeding twice changes nothing."""

import re
from collections import defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from labeling import roles
from labeling.assignment import engine
from labeling.demo.campaign import DEMO_ACCOUNTS, seed_demo
from labeling.demo.content import PROMPTS, SOURCE_USERS
from labeling.demo.simulated_campaign import SIMULATED_LABELERS, SIMULATED_TASKS
from labeling.models import (
    Assignment,
    Demonstration,
    Membership,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
    TaskResponse,
)
from training.lineage import project_lineage
from training.models import Checkpoint, DatasetSnapshot, JobMetric, TrainingJob

SIMULATED = [name for name, _ in SIMULATED_LABELERS]


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
        "assignments": Assignment.objects.count(),
        "rankings": Ranking.objects.count(),
        "ranking_items": RankingItem.objects.count(),
        "jobs": TrainingJob.objects.count(),
        "job_metrics": JobMetric.objects.count(),
        "checkpoints": Checkpoint.objects.count(),
        "snapshots": DatasetSnapshot.objects.count(),
    }


def _printed_passwords(out: str) -> dict:
    passwords = {}
    for username, _, _ in DEMO_ACCOUNTS:
        line = next(line for line in out.splitlines() if line.strip().startswith(username + " "))
        passwords[username] = line.split("password:")[1].split()[0]
    return passwords


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
    call_command("seed_demo", "--no-training")
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000/" in out
    passwords = {}
    for username, role, _ in DEMO_ACCOUNTS:
        line = next(line for line in out.splitlines() if line.strip().startswith(username + " "))
        assert f"role: {role}" in line
        passwords[username] = line.split("password:")[1].split()[0]
    users = get_user_model().objects
    assert all(users.get(username=u).check_password(p) for u, p in passwords.items())

    assert "skipped (--no-training)" in out
    # a second run (make demo again) keeps the passwords and prints none
    before = _counts()
    call_command("seed_demo", "--no-training")
    out = capsys.readouterr().out
    assert out.count("unchanged (--reset-passwords resets it)") == len(DEMO_ACCOUNTS)
    assert _counts() == before
    assert all(users.get(username=u).check_password(p) for u, p in passwords.items())
    # --reset-passwords gives new ones, printed
    call_command("seed_demo", "--reset-passwords", "--no-training")
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
        call_command("seed_demo", "--no-training")


def test_simulated_labelers_rank_part_of_the_campaign_through_the_engine(db, client):
    seed_demo()
    project = Project.objects.get(slug="demo")
    users = get_user_model().objects
    for username in SIMULATED:
        user = users.get(username=username)
        assert not user.has_usable_password() and not user.is_staff
        assert roles.role_in(user, project) == "labeler"

    # each ranked task has its full overlap from the simulated labelers, through submitted
    # assignments (the engine's path), and every pair of them shares tasks
    rankings = Ranking.objects.filter(task__project=project)
    assert not rankings.exclude(labeler__username__in=SIMULATED).exists()
    assert rankings.count() == SIMULATED_TASKS * project.overlap
    by_task = defaultdict(set)
    for task_id, username in rankings.values_list("task_id", "labeler__username"):
        by_task[task_id].add(username)
    assert len(by_task) == SIMULATED_TASKS
    assert all(len(names) == project.overlap for names in by_task.values())
    assert {frozenset(names) for names in by_task.values()} == {
        frozenset(pair) for pair in [SIMULATED[:2], SIMULATED[1:], SIMULATED[::2]]
    }
    assert not rankings.filter(assignment__isnull=True).exists()
    assert set(
        Assignment.objects.filter(task__project=project).values_list("status", flat=True)
    ) == {"submitted"}
    # dated over the past days, so the dashboard's time series have a shape
    days = {r.submitted_at.date() for r in rankings}
    assert len(days) >= 5

    # plausible: a good response (a polished system's text, no documented issue) is ranked
    # above a flawed one far more often than not
    hinted = {
        (entry["id"], r["text"]): bool(r.get("issue"))
        for entry in PROMPTS
        for r in entry["responses"]
    }
    better = worse = 0
    for ranking in rankings.prefetch_related("items__response", "task__prompt"):
        flawed = [
            (hinted[(ranking.task.prompt.external_id, item.response.text)], item.rank)
            for item in ranking.items.all()
        ]
        for issue_a, rank_a in flawed:
            for issue_b, rank_b in flawed:
                if not issue_a and issue_b:
                    better += rank_a < rank_b
                    worse += rank_a > rank_b
    assert better > 3 * worse

    # the dashboard shows a pairwise agreement number, not a dash, and the labelers' rows
    client.force_login(users.get(username="admin"))
    html = client.get(reverse("dashboard-project", args=["demo"])).content.decode()
    stat = re.search(r'data-stat="pairwise_agreement">([^<]*)<', html).group(1)
    assert 0.5 < float(stat) <= 1.0
    assert all(name in html for name in SIMULATED)

    # most tasks stay fresh: the demo's people still get one, never a simulated labeler's
    for username in ("labeler", "labeler2"):
        lease = engine.next_assignment(project, users.get(username=username))
        assert lease is not None and lease.task_id not in by_task
    assert engine.queue_size(project, users.get(username="labeler")) >= 20


def test_seeding_again_leaves_the_simulated_campaign_as_it_was(db):
    seed_demo()
    before = _counts()
    seed_demo()
    assert _counts() == before


@pytest.mark.training
@pytest.mark.django_db(transaction=True)  # the job's heartbeat thread reads the job's row
def test_the_demo_has_a_finished_training_run(client, settings, tmp_path, capsys):
    """SFT → RM → PPO → an RM-judged evaluation on the tiny model, run by seed_demo itself."""
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "Training run on the tiny model" in out and "run now in" in out
    passwords = _printed_passwords(out)
    project = Project.objects.get(slug="demo")
    jobs = {job.kind: job for job in TrainingJob.objects.filter(project=project)}
    assert set(jobs) == {"sft", "rm", "ppo", "evaluate"}
    assert all(job.status == "succeeded" for job in jobs.values())
    tiny = Checkpoint.objects.get(kind="base", name="tiny (demo)")
    assert tiny.path.startswith(str(tmp_path / "models" / "tiny"))
    assert jobs["sft"].base_checkpoint == tiny
    # the tiny model's samples never became ranking tasks for the people
    assert RankingTask.objects.filter(project=project).count() == len(PROMPTS)

    client.force_login(get_user_model().objects.get(username="admin"))
    html = client.get(reverse("dashboard-jobs", args=["demo"])).content.decode()
    for kind in ("sft", "rm", "ppo", "evaluate"):
        assert f'data-job="{jobs[kind].pk}" data-status="succeeded"' in html
    for kind in ("sft", "rm", "ppo"):
        assert jobs[kind].metric_rows.count() >= 3, kind
        page = client.get(reverse("dashboard-job", args=["demo", jobs[kind].pk]))
        assert 'id="chart-' in page.content.decode(), kind
    assert jobs["evaluate"].metric_rows.exists()

    # the lineage: tiny → SFT → RM, SFT → policy (against the RM), the policy judged by the RM
    edges = {(e["source"], e["target"]): e["label"] for e in project_lineage(project)["edges"]}
    node = {kind: f"checkpoint-{jobs[kind].output_checkpoint_id}" for kind in ("sft", "rm", "ppo")}
    evaluation = f"evaluation-{jobs['evaluate'].pk}"
    assert (f"checkpoint-{tiny.pk}", node["sft"]) in edges
    assert (node["sft"], node["rm"]) in edges and (node["sft"], node["ppo"]) in edges
    assert edges[(node["rm"], node["ppo"])] == "reward"
    assert edges[(node["rm"], evaluation)] == "judge"
    assert edges[(node["sft"], evaluation)] == "baseline"
    models_page = client.get(reverse("dashboard-models", args=["demo"])).content.decode()
    assert 'id="chart-lineage"' in models_page

    # make demo again: nothing new, nothing retrained, the passwords kept
    before = _counts()
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "from an earlier seed" in out
    assert _counts() == before
    users = get_user_model().objects
    assert all(users.get(username=u).check_password(p) for u, p in passwords.items())


def test_the_demo_run_is_not_mistaken_for_a_pipelines_jobs(project):
    """A pipeline started on the tiny model from the web has an SFT job of the same kind and
    base; seeding again must find the demo's own run, not that one."""
    from pipelines.models import Pipeline, PipelineStage
    from training.demo_run import _succeeded

    tiny = Checkpoint.objects.create(name="tiny (demo)", kind="base", path="/nowhere")
    demo = TrainingJob.objects.create(
        project=project, kind="sft", base_checkpoint=tiny, status="succeeded"
    )
    later = TrainingJob.objects.create(
        project=project, kind="sft", base_checkpoint=tiny, status="succeeded"
    )
    pipeline = Pipeline.objects.create(project=project, labelers="simulated")
    PipelineStage.objects.create(pipeline=pipeline, round=0, kind="sft", job=later)
    assert _succeeded(project, "sft", tiny) == demo
    assert _succeeded(project, "rm", tiny) is None
