"""Scheduled retraining: the schedules' beat entries, the retrain check and its one chain
(RM → PPO → generate), the nightly snapshot, and the training page of the dashboard.

Rankings arrive the way a campaign's do from outside: ``manage.py import_rankings``. The
check runs as beat runs it, through the Celery task (eagerly). Jobs are not run here: they
are finished by hand through ``training.lifecycle`` (``finish``), as a worker would.
"""

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.models import Ranking, RankingTask
from pipelines import retraining, service, tasks
from pipelines.models import Pipeline, RetrainingSchedule
from training.models import Checkpoint, DatasetSnapshot, TrainingJob

from .importing import run, write_jsonl
from .test_pipelines import finish

pytestmark = pytest.mark.django_db
N = 5


@pytest.fixture
def sft(project, tmp_path, settings):
    """The project's SFT model: the output of a succeeded SFT job."""
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    folder = tmp_path / "sft"
    folder.mkdir()
    checkpoint = Checkpoint.objects.create(name="sft", kind="sft", path=str(folder))
    TrainingJob.objects.create(
        project=project,
        kind="sft",
        status="succeeded",
        output_checkpoint=checkpoint,
        finished_at=timezone.now(),
    )
    return checkpoint


@pytest.fixture
def schedule(project):
    return retraining.save_schedule(
        RetrainingSchedule(project=project, kind="retrain_on_rankings", min_new_rankings=N)
    )


class Importer:
    """Imports rankings of fresh prompts, as ``import_rankings`` does from a file."""

    def __init__(self, project, tmp_path):
        self.project, self.tmp_path, self.n = project, tmp_path, 0

    def __call__(self, count: int) -> None:
        rows = []
        for _ in range(count):
            self.n += 1
            rows.append(
                {
                    "prompt": f"Imported prompt {self.n}: describe a lake.",
                    "responses": [f"answer {i} to {self.n}" for i in range(4)],
                    "ranks": [1, 2, 3, 4],
                    "labeler": f"vendor{self.n % 3}",
                }
            )
        path = write_jsonl(self.tmp_path / f"rankings{self.n}.jsonl", rows)
        out, _ = run("import_rankings", path, self.project.slug)
        assert f"created: {count}" in out


@pytest.fixture
def import_rankings(project, tmp_path):
    return Importer(project, tmp_path)


def check(schedule) -> str:
    """One beat run of the schedule: the task its PeriodicTask names, with its arguments."""
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "pipelines.run_schedule"
    return tasks.run_schedule.apply(args=json.loads(task.args)).get()


def test_n_imported_rankings_start_exactly_one_chain(
    project, sft, schedule, import_rankings, tmp_path
):
    import_rankings(N - 1)
    assert check(schedule) == f"{N - 1} new rankings of {N} needed: nothing started"
    assert not Pipeline.objects.exists() and not TrainingJob.objects.filter(kind="rm").exists()

    import_rankings(1)
    outcome = check(schedule)
    (pipeline,) = Pipeline.objects.all()
    assert (
        outcome == f"{N} new rankings: started pipeline {pipeline.pk} (RM from checkpoint {sft.pk})"
    )
    assert pipeline.mode == "retrain" and pipeline.status == "running"
    (rm,) = pipeline.stages.all()
    assert (rm.kind, rm.status, rm.parent) == ("rm", "running", sft)
    # the RM job froze exactly the rankings that started it
    assert rm.job.kind == "rm" and rm.job.base_checkpoint == sft and rm.job.snapshot.n_rows == N
    schedule.refresh_from_db()
    assert schedule.last_pipeline == pipeline and schedule.last_outcome == outcome
    assert schedule.last_run_at is not None

    # a second check, and more rankings while the chain runs: no second chain
    assert check(schedule) == f"pipeline {pipeline.pk} is running: no second chain"
    import_rankings(N + 2)
    assert check(schedule) == f"pipeline {pipeline.pk} is running: no second chain"
    assert Pipeline.objects.count() == 1 and TrainingJob.objects.filter(kind="rm").count() == 1

    # the chain moves on by beat's sweep: PPO from SFT against the new RM, then generate
    # from the new policy
    finish(rm, tmp_path)
    assert tasks.advance_running.apply().get() == 1
    rm.refresh_from_db()
    ppo = pipeline.stages.get(kind="ppo")
    assert ppo.parent == sft and ppo.reward_model == rm.output
    assert ppo.job.config["reward_model"] == rm.output.path
    finish(ppo, tmp_path)
    service.advance_running()
    ppo.refresh_from_db()
    generate = pipeline.stages.get(kind="generate")
    assert generate.parent == ppo.output and generate.job.base_checkpoint == ppo.output
    assert check(schedule) == f"pipeline {pipeline.pk} is running: no second chain"
    finish(generate, tmp_path, tasks=3)
    service.advance_running()
    pipeline.refresh_from_db()
    assert pipeline.status == "succeeded"
    assert [s.kind for s in pipeline.stages.all()] == ["rm", "ppo", "generate"]
    assert service.generated_tasks(pipeline, 1).count() == 3  # the next batch of tasks
    assert Pipeline.objects.count() == 1

    # the rankings imported while it ran are new to the next RM: they start the next chain
    outcome = check(schedule)
    assert outcome.startswith(f"{N + 2} new rankings: started pipeline ")
    assert Pipeline.objects.count() == 2
    assert Pipeline.objects.get(status="running").stages.get().job.snapshot.n_rows == 2 * N + 2


def test_below_n_and_evaluation_rankings_start_nothing(project, sft, schedule, import_rankings):
    import_rankings(N - 1)
    from labeling.intake import dedup
    from labeling.intake.ranking_tasks import create_ranking_task
    from labeling.models import Prompt, Response

    # humans judging policies: their rankings never train a reward model, nor start one
    prompt = Prompt.objects.create(
        project=project, text="Judge these", dedup_key="judge", source_user="x"
    )
    responses = [
        Response.objects.create(prompt=prompt, text=t, text_hash=dedup.text_hash(t))
        for t in ("policy", "parent")
    ]
    task = create_ranking_task(
        project, prompt, responses, source=RankingTask.Source.EVALUATION, enforce_project_k=False
    )
    from django.contrib.auth import get_user_model

    for name in ("judge1", "judge2"):
        user = get_user_model().objects.create_user(username=name)
        record_ranking(task, user, [ItemInput(rank=1), ItemInput(rank=2)])
    assert Ranking.objects.count() == N + 1
    assert retraining.new_rankings(project) == N - 1
    assert check(schedule) == f"{N - 1} new rankings of {N} needed: nothing started"
    assert not Pipeline.objects.exists()


def test_a_running_pipeline_of_the_project_blocks_the_chain(
    project, sft, schedule, import_rankings, labeler
):
    from labeling.models import Demonstration, Prompt

    import_rankings(N)
    # another pipeline (a person's run_pipeline) holds the project's lock; the check drives
    # it, as beat drives every running pipeline, and it waits for its SFT job (which needs a
    # demonstration, or it would be refused and the pipeline would free the lock)
    prompt = Prompt.objects.filter(project=project).first()
    Demonstration.objects.create(
        prompt=prompt, author=labeler, text="An answer.", status="accepted"
    )
    other = service.start_pipeline(project, labelers="human", base=sft)
    assert check(schedule) == f"pipeline {other.pk} is running: no second chain"
    # and a check that loses the race to it is refused by the lock, not doubled
    Pipeline.objects.filter(pk=other.pk).update(status="failed")
    first = check(schedule)
    assert first.startswith(f"{N} new rankings: started pipeline")
    second = retraining.check_retraining(schedule)
    assert second[0].endswith("is running: no second chain") and second[1] is None
    assert Pipeline.objects.filter(status="running").count() == 1


def test_the_chain_starts_from_the_base_model_without_sft(project, schedule, import_rankings):
    import_rankings(N)
    check(schedule)
    pipeline = Pipeline.objects.get()
    assert pipeline.base_checkpoint.kind == "base"
    assert pipeline.stages.get().parent == pipeline.base_checkpoint


def test_the_nightly_snapshot_freezes_the_rankings(project, sft, import_rankings):
    nightly = retraining.save_schedule(
        RetrainingSchedule(project=project, kind="nightly_snapshot", at_time=datetime.time(3, 30))
    )
    task = nightly.periodic_task
    assert task.interval is None and (task.crontab.hour, task.crontab.minute) == ("3", "30")
    import_rankings(3)
    outcome = check(nightly)
    (snapshot,) = DatasetSnapshot.objects.all()
    assert snapshot.kind == "rankings" and snapshot.n_rows == 3
    assert outcome.startswith(f"rankings snapshot {snapshot.pk}: 3 rows")
    nightly.refresh_from_db()
    assert nightly.last_outcome == outcome and nightly.last_pipeline is None
    assert not Pipeline.objects.exists()  # a snapshot only
    next_run = retraining.next_run(nightly)
    assert next_run > timezone.now() and next_run.astimezone(datetime.UTC).minute == 30


def test_editing_a_schedule_updates_its_periodic_task(project, schedule, admin_user, client):
    task = schedule.periodic_task
    assert task.enabled and (task.interval.every, task.interval.period) == (5, "minutes")
    assert json.loads(task.args) == [schedule.pk]
    soon = retraining.next_run(schedule)
    in_five = timezone.now() + datetime.timedelta(minutes=5)
    assert abs((soon - in_five).total_seconds()) <= 1  # never ran: one interval from now

    schedule.every_minutes, schedule.enabled = 15, False
    retraining.save_schedule(schedule)
    task = PeriodicTask.objects.get()
    assert task.pk == schedule.periodic_task_id and task.interval.every == 15
    assert not task.enabled and retraining.next_run(schedule) is None

    # the admin's form goes through the service; a bad config is refused with the field
    client.force_login(admin_user)
    url = reverse("admin:pipelines_retrainingschedule_change", args=[schedule.pk])
    form = {
        "project": project.pk, "kind": "retrain_on_rankings", "enabled": "on",
        "min_new_rankings": "50", "every_minutes": "10", "at_time": "02:00",
        "sft_checkpoint": "", "config": json.dumps({"rm": {"lr": 0.001}}),
    }  # fmt: skip
    assert client.post(url, form).status_code == 302
    schedule.refresh_from_db()
    task = PeriodicTask.objects.get()
    assert schedule.min_new_rankings == 50 and schedule.config == {"rm": {"lr": 0.001}}
    assert task.enabled and task.interval.every == 10
    bad = client.post(url, form | {"config": json.dumps({"sfft": {}})})
    assert bad.status_code == 200 and "unknown key &#x27;sfft&#x27;" in bad.content.decode()
    assert RetrainingSchedule.objects.get().config == {"rm": {"lr": 0.001}}

    # on the project's page too (the inline), and deleting the schedule stops beat's entry
    page = client.get(reverse("admin:labeling_project_change", args=[project.pk]))
    assert "retraining_schedules-0-min_new_rankings" in page.content.decode()
    schedule.delete()
    assert not PeriodicTask.objects.exists()


def test_the_training_page_shows_last_and_next_runs(
    project, schedule, import_rankings, client, admin_user, labeler
):
    project.name = "<script>alert(1)</script> lake"
    project.save()
    import_rankings(1)
    check(schedule)
    client.force_login(labeler)  # not staff: sent to the admin's login
    assert client.get(reverse("dashboard-training")).status_code == 302
    client.force_login(admin_user)
    assert reverse("dashboard-training") in client.get(reverse("dashboard")).content.decode()
    html = client.get(reverse("dashboard-training")).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    row = html[html.index(f'data-schedule="{schedule.pk}"') :]
    last = timezone.localtime(RetrainingSchedule.objects.get().last_run_at)
    assert f"{last:%Y-%m-%d %H:%M}" in row.split('data-field="last_run"')[1][:40]
    assert "1 new rankings of 5 needed" in row
    next_cell = row.split('data-field="next_run"')[1][:40]
    assert next_cell.startswith(">20") and "never" not in row.split("</tr>")[0]


@pytest.mark.slow
@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_the_chain_runs_to_the_end_on_a_real_worker(real_services, tiny_path, tmp_path, settings):
    """Beat's part played by the test: import N rankings, check, and sweep until the chain
    (RM → PPO → generate, each job run by a Celery worker on the tiny model) is done."""
    import random
    import time

    from labeling.demo.simulation import preference_ranks
    from labeling.models import Project
    from training.engine.synthetic import response_with

    from .pipeline_world import TINY_STAGES
    from .test_run_pipeline import start_worker

    settings.PREFLAB_ARTIFACTS_DIR = tmp_path
    project = Project.objects.create(slug="retrain", name="Retrain", overlap=1)
    base = Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))
    config = {key: TINY_STAGES[key] for key in ("rm", "ppo", "generate")}
    schedule = retraining.save_schedule(
        RetrainingSchedule(
            project=project,
            kind="retrain_on_rankings",
            min_new_rankings=24,
            sft_checkpoint=base,
            config=config,
        )
    )
    rng = random.Random(0)
    rows = []
    for i in range(24):
        texts = [response_with(rng, n) for n in rng.sample(range(4), 4)]
        ranks = preference_ranks(texts, allow_ties=False)
        rows.append({"prompt": f"Tea ({i})?", "responses": texts, "ranks": ranks, "labeler": "v"})
    out, _ = run("import_rankings", write_jsonl(tmp_path / "r.jsonl", rows), project.slug)
    assert "created: 24" in out

    worker = start_worker(tmp_path)
    try:
        assert check(schedule).startswith("24 new rankings: started pipeline")
        pipeline = Pipeline.objects.get()
        deadline = time.monotonic() + 600
        while pipeline.status == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            assert check(schedule) == f"pipeline {pipeline.pk} is running: no second chain" or (
                Pipeline.objects.get(pk=pipeline.pk).status != "running"
            )
            pipeline.refresh_from_db()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert pipeline.status == "succeeded", service.describe(pipeline)
    stages = {s.kind: s for s in pipeline.stages.all()}
    assert stages["rm"].parent == base and stages["ppo"].reward_model == stages["rm"].output
    assert (
        stages["generate"].parent == stages["ppo"].output == stages["generate"].job.base_checkpoint
    )
    assert stages["generate"].metrics["generate/tasks"] > 0
    assert Pipeline.objects.count() == 1
    for stage in stages.values():
        assert stage.job.status == "succeeded" and stage.job.worker.startswith("celery@")


def test_the_project_page_adds_a_schedule_through_the_service(client, admin_user, project):
    from .test_admin import _project_form

    client.force_login(admin_user)
    row = {
        "kind": "nightly_snapshot", "enabled": "on", "min_new_rankings": "100",
        "every_minutes": "5", "at_time": "01:15", "config": "{}",
    }  # fmt: skip
    data = _project_form(project) | {"retraining_schedules-TOTAL_FORMS": "1"}
    data |= {f"retraining_schedules-0-{key}": value for key, value in row.items()}
    url = reverse("admin:labeling_project_change", args=[project.pk])
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    schedule = RetrainingSchedule.objects.get(project=project)
    crontab = schedule.periodic_task.crontab
    assert (crontab.hour, crontab.minute) == ("1", "15") and schedule.periodic_task.enabled


@pytest.mark.django_db(transaction=True)
def test_two_checks_racing_start_one_chain(project, tmp_path, settings, monkeypatch):
    """Both checks pass the "is one running?" look before either inserts: the lock (the
    partial unique constraint on running pipelines) lets one chain start, not two."""
    import threading

    from django.db import connections

    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    schedule = retraining.save_schedule(
        RetrainingSchedule(project=project, kind="retrain_on_rankings", min_new_rankings=N)
    )
    Importer(project, tmp_path)(N)
    both_counted = threading.Barrier(2, timeout=20)
    counted = retraining.new_rankings

    def count_then_wait(project):
        n = counted(project)
        both_counted.wait()  # neither has inserted its pipeline yet
        return n

    monkeypatch.setattr(retraining, "new_rankings", count_then_wait)
    outcomes = []

    def beat():
        try:
            outcomes.append(retraining.run_schedule(schedule.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    (pipeline,) = Pipeline.objects.all()
    assert sorted(o.split(":")[0] for o in outcomes) == [
        f"{N} new rankings", "not started"
    ], outcomes  # fmt: skip
    assert TrainingJob.objects.filter(kind="rm").count() == 1 and pipeline.status == "running"
