"""manage.py ai_label: an AI labeler ranks open tasks through the assignment engine, under its
own marked account; agreement shows it beside people; exports take it only when asked; and a
pipeline's rank stage can be done by it."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from labeling import projects
from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput
from labeling.intake import dedup
from labeling.intake.ranking_tasks import create_ranking_task
from labeling.models import DEFAULT_PRINCIPLES, Membership, Project, Prompt, Ranking, Response
from labeling.outputs.exports import export_rows
from labeling.quality.agreement import project_agreement
from pipelines import service
from pipelines.models import Pipeline
from training import lifecycle
from training.ai_labelers import EVALUATION_SKIP, ai_label, ranks_from_scores
from training.engine.ai_judge import principle_scores
from training.engine.reward import score_responses
from training.engine.tiny import untrained_reward_model
from training.models import Checkpoint, TrainingJob

from .training_world import fill_campaign

TEXTS = [
    ["Tea is a drink.", "Tea grows on bushes in the hills.", "I do not know.", "Tea!"],
    ["Rivers flow to the sea.", "Water.", "A river is a long stream of water.", "No."],
    ["Owls hunt at night.", "Owls are birds.", "Hoot hoot hoot.", "Owls see in the dark."],
]


@pytest.fixture(scope="module")
def rm_folder(tiny_path, tmp_path_factory):
    return untrained_reward_model(tiny_path, tmp_path_factory.mktemp("judge") / "rm")


@pytest.fixture
def rm(db, rm_folder):
    return Checkpoint.objects.create(name="judge-rm", kind="rm", path=str(rm_folder))


@pytest.fixture
def lm(db, tiny_path):
    return Checkpoint.objects.create(name="judge-lm", kind="sft", path=str(tiny_path))


@pytest.fixture
def tasks(project, make_task):
    project.overlap, project.gold_rate = 2, 0.0
    project.save(update_fields=["overlap", "gold_rate"])
    return [make_task(k=4, texts=texts) for texts in TEXTS]


def rank_as(user, project, ranks=(1, 2, 3, 4)):
    lease = engine.next_assignment(project, user)
    engine.submit_ranking(lease, user, [ItemInput(rank=r) for r in ranks], require_likert=False)
    return lease.task_id


def ai_rankings(username="ai-judge"):
    return Ranking.objects.filter(labeler__username=username).order_by("task_id")


def ranks_of(ranking) -> list[int]:
    order = {tr.response_id: tr.position for tr in ranking.task.task_responses.all()}
    items = sorted(ranking.items.all(), key=lambda item: order[item.response_id])
    return [item.rank for item in items]


def run(*args) -> str:
    out = StringIO()
    call_command("ai_label", *args, stdout=out)
    return out.getvalue()


def test_an_rm_judge_ranks_every_open_task_once_under_its_own_account(
    project, tasks, labeler, other_labeler, rm, rm_folder
):
    # one task is full already: two people ranked it
    full = rank_as(labeler, project)
    assert rank_as(other_labeler, project) == full
    out = run("--project", project.slug, "--judge", f"rm:{rm.pk}", "--name", "judge")
    assert out.strip() == f"ai-judge (rm:{rm.pk}): ranked 2 tasks, skipped 0 evaluation tasks"
    user = get_user_model().objects.get(username="ai-judge")
    assert not user.has_usable_password() and not user.is_staff
    membership = Membership.objects.get(project=project, user=user)
    assert membership.role == "labeler" and membership.is_ai
    rankings = list(ai_rankings())
    assert [r.task_id for r in rankings] == [t.pk for t in tasks if t.pk != full]
    assert all(r.comment == f"AI judge rm:{rm.pk}" and r.assignment for r in rankings)
    # it ranks as the reward model scores: re-score and compare
    for ranking in rankings:
        task = ranking.task
        texts = [r.text for r in task.ordered_responses()]
        scores = score_responses(rm_folder, [task.prompt.text] * 4, texts)
        assert ranks_of(ranking) == ranks_from_scores(scores, allow_ties=True)
        assert sorted(ranks_of(ranking)) == [1, 2, 3, 4]
    # a second run finds nothing left for it: each task once, the full one never
    assert json.loads(run("--project", project.slug, "--judge", f"rm:{rm.pk}", "--name", "judge",
                          "--json"))["ranked"] == 0  # fmt: skip
    assert ai_rankings().count() == 2


def test_a_checkpoint_judge_follows_the_principles_and_leaves_evaluations_to_people(
    project, tasks, lm, tiny_path, tmp_path
):
    project.allow_ties = False
    project.save(update_fields=["allow_ties"])
    prompt = Prompt.objects.create(
        project=project, text="Compare these.", dedup_key=dedup.dedup_key("eval", 200)
    )
    responses = [
        Response.objects.create(prompt=prompt, text=t, text_hash=dedup.text_hash(t))
        for t in ("policy a says hi", "policy b says hello")
    ]
    evaluation = create_ranking_task(
        project, prompt, responses, source="evaluation", enforce_project_k=False
    )
    principles = tmp_path / "principles.md"
    principles.write_text("- Always mention tea.\n- Be brief.")
    out = run("--project", project.slug, "--judge", f"checkpoint:{lm.pk}", "--name", "Judge",
              "--principles", str(principles), "--limit", "2")  # fmt: skip
    assert out.startswith(f"ai-judge (checkpoint:{lm.pk}): ranked 2 tasks")
    rankings = list(ai_rankings())
    assert len(rankings) == 2
    for ranking in rankings:
        task = ranking.task
        texts = [r.text for r in task.ordered_responses()]
        scores = principle_scores(tiny_path, principles.read_text(), [task.prompt.text] * 4, texts)
        assert ranks_of(ranking) == ranks_from_scores(scores, allow_ties=False)
    # the rest, without --limit: the last labeling task, and the evaluation task skipped
    user = get_user_model().objects.get(username="ai-judge")
    assert ai_label(project, f"checkpoint:{lm.pk}", "judge") == {
        "labeler": "ai-judge", "judge": f"checkpoint:{lm.pk}", "ranked": 1, "skipped": 1,
    }  # fmt: skip
    skipped = evaluation.assignments.get(labeler=user)
    assert skipped.status == "skipped" and skipped.skip_reason == EVALUATION_SKIP
    assert not evaluation.rankings.exists()


def test_the_principles_are_a_project_setting(project, project_admin):
    assert project.principles == DEFAULT_PRINCIPLES
    projects.update_project(project, principles="- Be kind.")
    assert Project.objects.get(pk=project.pk).principles == "- Be kind."
    with pytest.raises(projects.ProjectError, match="principles: must not contain NUL"):
        projects.update_project(project, principles="a\x00b")
    api = APIClient()
    api.force_authenticate(project_admin)
    url = f"/api/v1/projects/{project.slug}/"
    response = api.patch(url, {"principles": "- Be brief."}, format="json")
    assert response.status_code == 200 and response.json()["principles"] == "- Be brief."
    refused = api.patch(url, {"principles": "a\x00b"}, format="json")
    assert refused.status_code == 400 and "principles" in refused.json()


def test_ranks_from_scores():
    assert ranks_from_scores([0.5, 2.0, 0.5, -1.0], allow_ties=True) == [2, 1, 2, 4]
    assert ranks_from_scores([0.5, 2.0, 0.5, -1.0], allow_ties=False) == [2, 1, 3, 4]
    assert ranks_from_scores([1.0, 1.0], allow_ties=True) == [1, 2]  # must compare something


@pytest.mark.parametrize(
    "args, message",
    [
        (["--judge", "rm"], "--judge: 'rm' is not rm:ID or checkpoint:ID"),
        (["--judge", "rm:999999"], "--judge: no checkpoint 999999"),
        (["--judge", "checkpoint:{rm}"], "is a rm, not base or sft or policy"),
        (["--judge", "rm:{rm}", "--name", "Bad Name!"], "--name: 'bad name!'"),
        (["--judge", "rm:{rm}", "--limit", "0"], "--limit: must be a whole number"),
        (["--judge", "rm:{rm}", "--principles", "/nowhere/p.md"], "--principles: "),
    ],
)
def test_refusals_name_the_option(project, tasks, rm, args, message):
    args = [a.replace("{rm}", str(rm.pk)) for a in args]
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run("--project", project.slug, *args)
    assert not Ranking.objects.exists()


def test_a_persons_account_is_never_taken_over(project, tasks, rm):
    get_user_model().objects.create_user(username="ai-bob", password="secret-pw")
    with pytest.raises(CommandError, match="--name: ai-bob is a person's account"):
        run("--project", project.slug, "--judge", f"rm:{rm.pk}", "--name", "bob")


def test_agreement_lists_the_ai_labeler_beside_the_people(
    project, tasks, labeler, reviewer, rm, client
):
    ai_label(project, f"rm:{rm.pk}", "judge")
    for _ in tasks:
        rank_as(labeler, project)
    rows = {row["username"]: row for row in project_agreement(project)["labelers"]}
    assert rows["ai-judge"]["is_ai"] and not rows["lena"]["is_ai"]
    assert rows["ai-judge"]["n_rankings"] == 3 and rows["lena"]["n_rankings"] == 3
    assert rows["ai-judge"]["agreement"] is not None
    assert rows["ai-judge"]["agreement"] == rows["lena"]["agreement"]  # only each other
    out = StringIO()
    call_command("agreement", "--project", project.slug, stdout=out)
    assert "ai-judge (AI)" in out.getvalue() and "lena (AI)" not in out.getvalue()
    client.force_login(reviewer)
    page = client.get(f"/dashboard/{project.slug}/").content.decode()
    assert page.count(">AI</span>") == 1


def test_exports_leave_ai_rankings_out_unless_asked(project, tasks, labeler, reviewer, rm):
    ai_label(project, f"rm:{rm.pk}", "judge")
    rank_as(labeler, project)
    for kind in ("comparisons", "rankings"):
        people = list(export_rows(kind, project))
        assert people and {row["labeler"] for row in people} == {"lena"}
        both = list(export_rows(kind, project, {"include_ai": True}))
        assert {row["labeler"] for row in both} == {"lena", "ai-judge"}
    assert len(list(export_rows("rankings", project, {"include_ai": True}))) == 4
    # the command's flag and the API's query option are the same option
    out = StringIO()
    call_command("export_rankings", "--project", project.slug, "--include-ai", stdout=out)
    assert {json.loads(line)["labeler"] for line in out.getvalue().splitlines()} == {
        "lena", "ai-judge",
    }  # fmt: skip
    api = APIClient()
    api.force_authenticate(reviewer)
    for query, expected in (("", {"lena"}), ("&include_ai=true", {"lena", "ai-judge"})):
        response = api.get(f"/api/v1/exports/comparisons/?project={project.slug}{query}")
        assert response.status_code == 200
        lines = b"".join(response.streaming_content).splitlines()
        assert {json.loads(line)["labeler"] for line in lines} == expected


# --- run_pipeline --labelers ai:NAME ----------------------------------------------------------


@pytest.fixture
def campaign(project, make_task, labeler, settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    return fill_campaign(project, make_task, labeler, n=8, validation_every=4)


def finish(stage, tmp_path):
    """Finish a stage's job as a worker would (tests/test_pipelines.py does the same): a
    checkpoint, or for generate two ranking tasks of overlap 1."""
    job = TrainingJob.objects.get(pk=stage.job_id)
    assert lifecycle.claim(job.pk, "celery@test:1")
    job.refresh_from_db()

    def register():
        if job.kind == "generate":
            for n, prompt in enumerate(Prompt.objects.filter(pk__in=job.config["prompt_ids"])[:2]):
                texts = [f"sample {i} of prompt {n}, job {job.pk}" for i in range(4)]
                responses = [
                    Response.objects.create(prompt=prompt, text=t, text_hash=dedup.text_hash(t))
                    for t in texts
                ]
                create_ranking_task(job.project, prompt, responses, overlap=1)
            return None
        folder = tmp_path / f"job{job.pk}"
        folder.mkdir()
        return Checkpoint.objects.create(
            name=f"job{job.pk}", kind="sft", path=str(folder), parent=job.base_checkpoint
        )

    assert lifecycle.succeed(job, "celery@test:1", register)


def test_a_pipeline_with_an_ai_labeler_gets_past_the_rank_stage(campaign, rm, tmp_path):
    base = Checkpoint.objects.create(name="tiny", kind="base", path=str(tmp_path))
    pipeline = service.start_pipeline(
        campaign, labelers="ai:judge", base=base, config={"ai_judge": f"rm:{rm.pk}"}
    )
    assert pipeline.labelers == "ai" and pipeline.config["ai_labeler"] == "judge"
    pipeline = service.advance(pipeline)
    finish(pipeline.stages.get(kind="sft"), tmp_path)
    pipeline = service.advance(pipeline)
    finish(pipeline.stages.get(kind="generate"), tmp_path)
    pipeline = service.advance(pipeline)
    rank = pipeline.stages.get(kind="rank")
    assert rank.status == "succeeded", rank.note
    assert rank.metrics == {"tasks": 2.0, "rankings": 2.0, "open_tasks": 0.0, "missing": 0.0}
    assert pipeline.stages.get(kind="rm").status == "running"
    generated = service.generated_tasks(pipeline, 1)
    assert set(Ranking.objects.filter(task__in=generated).values_list(
        "labeler__username", flat=True)) == {"ai-judge"}  # fmt: skip


def test_an_ai_pipeline_needs_a_judge(campaign, rm):
    with pytest.raises(service.PipelineError, match="labelers: ai:claude needs a judge"):
        service.start_pipeline(campaign, labelers="ai:claude")
    with pytest.raises(service.PipelineError, match="ai_judge: no checkpoint 999999"):
        service.start_pipeline(campaign, labelers="ai:claude", config={"ai_judge": "rm:999999"})
    with pytest.raises(service.PipelineError, match="config: ai_judge is for --labelers ai"):
        service.start_pipeline(campaign, labelers="human", config={"ai_judge": f"rm:{rm.pk}"})
    with pytest.raises(CommandError, match="needs a judge"):
        call_command("run_pipeline", "--project", campaign.slug, "--labelers", "ai:x",
                     stdout=StringIO())  # fmt: skip
    with pytest.raises(CommandError, match="still running after --timeout"):
        call_command("run_pipeline", "--project", campaign.slug, "--labelers", "ai:x",
                     "--ai-judge", f"rm:{rm.pk}", "--timeout", "0.01", "--poll", "0",
                     stdout=StringIO())  # fmt: skip
    pipeline = Pipeline.objects.get()
    assert pipeline.labelers == "ai"
    assert (pipeline.config["ai_judge"], pipeline.config["ai_labeler"]) == (f"rm:{rm.pk}", "x")
