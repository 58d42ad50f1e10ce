"""Evaluation campaigns: creation, blind tasks, labelers' preferences turned into a report,
imported contestants, identical answers, the RM as a judge, and checkpoint contestants whose
answers a real generation job samples."""

import numpy as np
import pytest

from evaluations import campaigns, report, scoring
from evaluations.models import Campaign, Entry
from labeling import roles
from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput
from labeling.models import RankingTask
from training import jobs
from training.models import Checkpoint

from .evaluation_world import STRONG, WEAK, answered_prompts


def _campaign(project, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.create_campaign(
            project, "strong-vs-weak", [{"name": STRONG}, {"name": WEAK}], **kwargs
        )
    campaign.refresh_from_db()
    return campaign


def _labelers(project, n):
    from django.contrib.auth import get_user_model

    users = []
    for i in range(n):
        user = get_user_model().objects.create_user(username=f"judge{i}")
        roles.grant(user, project, "labeler")
        users.append(user)
    return users


def _rank_all(project, labelers, prefer_strong: float, seed=0, flags=("hallucination",)):
    """Each labeler takes tasks from the queue and prefers the strong model's answer with
    probability ``prefer_strong``, as a person would submit it (Likert and flags too)."""
    rng = np.random.default_rng(seed)
    written = 0
    for labeler in labelers:
        while (lease := engine.next_assignment(project, labeler)) is not None:
            task = RankingTask.objects.get(pk=lease.task_id)
            writers = [r.model_name for r in task.ordered_responses()]
            strong_wins = rng.random() < prefer_strong
            items = []
            for writer in writers:
                best = (writer == STRONG) == strong_wins
                items.append(
                    ItemInput(
                        rank=1 if best else 2,
                        likert=6 if writer == STRONG else 3,
                        flags=[] if writer == STRONG else list(flags),
                    )
                )
            engine.submit_ranking(lease, labeler, items)
            written += 1
    return written


def test_a_campaign_of_imported_models_opens_blind_pairwise_tasks(
    project, django_capture_on_commit_callbacks
):
    answered_prompts(project, 6)
    campaign = _campaign(project, django_capture_on_commit_callbacks, overlap=2)
    assert campaign.status == Campaign.Status.OPEN
    assert Entry.objects.filter(contestant__campaign=campaign).count() == 12
    tasks = RankingTask.objects.filter(evaluation__campaign=campaign)
    assert tasks.count() == 6
    assert {(t.k, t.overlap, t.source) for t in tasks} == {(2, 2, "evaluation")}
    described = campaigns.describe(campaign)
    assert described["tasks"] == 6 and described["missing"] == 12


def test_the_report_recovers_the_labelers_preference(project, django_capture_on_commit_callbacks):
    answered_prompts(project, 40)
    campaign = _campaign(project, django_capture_on_commit_callbacks, overlap=2)
    assert _rank_all(project, _labelers(project, 2), prefer_strong=0.8) == 80
    document = report.build_report(campaign, WEAK, n_boot=300)
    strong = document["models"][STRONG]
    assert document["baseline"] == WEAK and document["n_judgments"] == 80
    assert strong["n"] == 80
    assert 0.65 < strong["win_rate"] < 0.95
    assert strong["ci"][0] < strong["win_rate"] < strong["ci"][1]
    assert strong["ci"][0] > 0.5  # the order is recovered with confidence
    assert strong["bt"] > 0 and strong["bt_ci"][0] > 0
    assert strong["likert"] == 6 and document["models"][WEAK]["likert"] == 3
    assert document["models"][WEAK]["flags"] == {"hallucination": 1.0}
    assert strong["flags"] == {}
    assert set(document["categories"]) == {"generation", "open_qa"}
    assert document["categories"]["open_qa"][WEAK]["flags"]["hallucination"] == 1.0


def test_a_ranking_campaign_puts_every_answer_in_one_task(
    project, django_capture_on_commit_callbacks
):
    answered_prompts(project, 3, models=(STRONG, WEAK, "third"))
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.create_campaign(
            project,
            "three",
            [{"name": STRONG}, {"name": WEAK}, {"name": "third"}],
            format="ranking",
        )
    assert list(
        RankingTask.objects.filter(evaluation__campaign=campaign).values_list("k", flat=True)
    ) == [3, 3, 3]
    pairwise = campaigns.create_campaign(
        project, "pairs", [{"name": STRONG}, {"name": WEAK}, {"name": "third"}]
    )
    campaigns.advance(pairwise)
    assert RankingTask.objects.filter(evaluation__campaign=pairwise).count() == 9


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"contestants": [{"name": STRONG}]}, "contestants"),
        ({"contestants": [{"name": STRONG}, {"name": STRONG}]}, "contestants"),
        ({"contestants": [{"name": STRONG}, {"name": "never-imported"}]}, "contestants[1]"),
        ({"split": "holdout"}, "split"),
        ({"split": "train"}, "split"),
        ({"overlap": 0}, "overlap"),
        ({"format": "elo"}, "format"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_campaign_is_refused_by_field_and_writes_nothing(project, kwargs, field):
    answered_prompts(project, 2)
    arguments = {"name": "c", "contestants": [{"name": STRONG}, {"name": WEAK}]} | kwargs
    with pytest.raises(campaigns.EvaluationError) as refused:
        campaigns.create_campaign(
            project, arguments.pop("name"), arguments.pop("contestants"), **arguments
        )
    assert refused.value.field == field
    assert not Campaign.objects.exists()


def test_a_second_campaign_of_the_same_name_is_refused(project):
    answered_prompts(project, 2)
    campaigns.create_campaign(project, "c", [{"name": STRONG}, {"name": WEAK}])
    with pytest.raises(campaigns.EvaluationError, match="already"):
        campaigns.create_campaign(project, "c", [{"name": STRONG}, {"name": WEAK}])


def test_the_reward_model_judges_beside_the_humans(
    project, django_capture_on_commit_callbacks, tmp_path, tiny_path
):
    from training.engine.tiny import untrained_reward_model

    answered_prompts(project, 8)
    campaign = _campaign(project, django_capture_on_commit_callbacks)
    _rank_all(project, _labelers(project, 1), prefer_strong=1.0)
    folder = untrained_reward_model(tiny_path, tmp_path / "rm")
    judge = Checkpoint.objects.create(name="rm", kind="rm", path=str(folder))
    assert scoring.score_entries(campaign, judge) == 16
    assert scoring.score_entries(campaign, judge) == 0  # kept: scored once
    document = report.build_report(campaign, WEAK, judge=f"rm:{judge.pk}", n_boot=50)
    assert document["judge"] == f"rm:{judge.pk}"
    assert document["models"][STRONG]["n"] == 8
    assert document["agreement"]["n"] == 8
    assert 0.0 <= document["agreement"]["agreement"] <= 1.0
    with pytest.raises(campaigns.EvaluationError) as refused:
        scoring.score_entries(campaign, Checkpoint.objects.create(name="p", kind="sft", path="x"))
    assert refused.value.field == "judge"


def test_checkpoint_contestants_get_their_answers_from_a_generation_job(
    project, django_capture_on_commit_callbacks, settings, tmp_path, tiny_path
):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    answered_prompts(project, 3, models=())
    folder = tiny_path
    first = Checkpoint.objects.create(name="sft", kind="sft", path=str(folder))
    second = Checkpoint.objects.create(name="ppo", kind="policy", path=str(folder), parent=first)
    campaign = campaigns.create_campaign(
        project,
        "sft-vs-ppo",
        [{"checkpoint": first}, {"checkpoint": second}],
        generation={"max_new_tokens": 6},
    )
    contestants = list(campaign.contestants.all())
    assert [c.name for c in contestants] == [f"sft-{first.pk}", f"policy-{second.pk}"]
    assert campaign.status == Campaign.Status.GENERATING
    with django_capture_on_commit_callbacks(execute=True):
        for contestant in contestants:
            job = jobs.run_job(contestant.generation_job_id, "celery@test:1")
            assert job.status == "succeeded", job.error
            assert job.config["k"] == 1 and job.config["create_tasks"] is False
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.OPEN
    entries = Entry.objects.filter(contestant__campaign=campaign)
    assert entries.count() == 6
    # the same weights and seed wrote the same answers: each prompt's pair shares one
    # response, so it is a tie without asking anyone, and no task is made (the generation
    # jobs make none of their own either)
    assert len({e.response_id for e in entries}) == 3
    assert not RankingTask.objects.filter(project=project).exists()
    document = report.build_report(campaign, f"sft-{first.pk}", n_boot=50)
    assert document["models"][f"policy-{second.pk}"]["n"] == 3
    assert document["models"][f"policy-{second.pk}"]["tie_rate"] == 1.0


def test_a_failed_generation_fails_the_campaign(project, tmp_path, settings):
    from training import lifecycle

    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    answered_prompts(project, 2, models=())
    base = Checkpoint.objects.create(name="b", kind="base", path=str(tmp_path))
    other = Checkpoint.objects.create(name="c", kind="sft", path=str(tmp_path))
    campaign = campaigns.create_campaign(
        project, "x", [{"checkpoint": base}, {"checkpoint": other}]
    )
    job = campaign.contestants.first().generation_job
    assert lifecycle.claim(job.pk, "w:1")
    assert lifecycle.fail(job.pk, "w:1", "RuntimeError: boom")
    campaign = campaigns.advance(campaign)
    assert campaign.status == Campaign.Status.FAILED
    assert f"generation job {job.pk} failed" in campaign.error
