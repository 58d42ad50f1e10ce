"""/dashboard/<slug>/jobs/new/: start a job or a pipeline from the training console. The
project's admins only, behind CSRF; the form's values go through the API's serializers and
services, so refusals are the API's, shown next to the field they name, and nothing is
created."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from pipelines.models import Pipeline
from training import presets
from training.engine.config import config_from_dict
from training.engine.registry import config_class
from training.jobs import JOB_KEYS, KINDS
from training.models import Checkpoint, TrainingJob
from training.start_form import default_config, parameter_count, picked_size

from .training_world import fill_campaign


def _url(project):
    return reverse("dashboard-job-new", args=[project.slug])


@pytest.fixture
def campaign(project, make_task, labeler):
    return fill_campaign(project, make_task, labeler, n=4, validation_every=4)


@pytest.fixture
def admin_client(client, project_admin):
    client.force_login(project_admin)
    return client


def _post(client, project, **fields):
    data = {"kind": "sft", "size": "", "base_checkpoint": "", "config": "{}"} | fields
    if isinstance(data["config"], dict):
        data["config"] = json.dumps(data["config"])
    return client.post(_url(project), data)


def _errors(response, field):
    html = response.content.decode()
    start = html.find(f'id="errors-{field}"')
    assert start != -1, f"no errors shown for {field}"
    return html[start : html.index("</ul>", start)]


def test_only_the_projects_admins_may_start_jobs(
    client, project, labeler, reviewer, project_admin, admin_user
):
    response = client.get(_url(project))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert client.post(_url(project), {"kind": "sft"}).status_code == 302
    for refused in (labeler, reviewer):
        client.force_login(refused)
        assert client.get(_url(project)).status_code == 403
        assert client.post(_url(project), {"kind": "sft", "config": "{}"}).status_code == 403
    for allowed in (project_admin, admin_user):
        client.force_login(allowed)
        assert client.get(_url(project)).status_code == 200
    assert not TrainingJob.objects.exists()


def test_the_jobs_list_links_to_the_form(admin_client, project):
    html = admin_client.get(reverse("dashboard-jobs", args=[project.slug])).content.decode()
    assert f'href="{_url(project)}"' in html and "Start a job" in html


@pytest.mark.parametrize("kind", [*KINDS, "pipeline"])
def test_the_form_shows_the_defaults_of_each_kind(admin_client, project, kind):
    response = admin_client.get(_url(project), {"kind": kind, "size": "quick"})
    assert response.status_code == 200
    config = json.loads(response.context["form"].initial["config"])
    assert config == default_config(kind, "quick")
    html = response.content.decode()
    assert 'name="config"' in html and 'name="base_checkpoint"' in html
    assert ("reward_checkpoint" in html) == (kind in ("ppo", "evaluate", "generate", "best_of_n"))
    assert ('name="baseline_checkpoint"' in html) == (kind == "evaluate")
    assert ('name="rounds"' in html) == (kind == "pipeline")
    if kind == "pipeline":
        assert config == {"preset": "quick"}
        return
    # the preset's values over the engine's defaults, without the platform's keys, and the
    # engine takes them as they are
    assert config.items() >= presets.sized("quick", kind).items()
    assert not {"model", "policy", "output_dir", "reward_model", "parent_model"} & set(config)
    # (the platform fills best-of-n's reward model from the checkpoint chosen)
    needed = {"reward_model": "rm"} if kind == "best_of_n" else {}
    data = {k: v for k, v in config.items() if k not in JOB_KEYS} | needed
    config_from_dict(config_class(kind), data)


def _defaults(client, project, **query):
    """The config box's JSON of the form as GET renders it for ``query``."""
    return json.loads(client.get(_url(project), query).context["form"].initial["config"])


def test_ppo_defaults_by_size(admin_client, project):
    quick = _defaults(admin_client, project, kind="ppo", size="quick")
    full = _defaults(admin_client, project, kind="ppo", size="full")
    assert (quick["steps"], full["steps"]) == (8, 100)
    assert quick["ptx_coef"] == full["ptx_coef"] == 0.0  # plain PPO: no corpus needed


def test_the_machine_picks_the_size_and_the_models_size_lora(
    admin_client, project, tiny_path, tmp_path
):
    tiny = Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))
    assert 1_000_000 < parameter_count(tiny_path) < 10_000_000
    assert picked_size(tiny)[0] == presets.default_preset()
    steps = _defaults(admin_client, project, kind="ppo", base_checkpoint=tiny.pk)["steps"]
    assert steps == (100 if presets.default_preset() == "full" else 8)
    response = admin_client.get(_url(project), {"kind": "sft", "base_checkpoint": tiny.pk})
    assert "M parameters on a host with" in response.content.decode()
    assert response.context["form"].initial["config"].count('"lora": false') == 1
    # a model whose size is not readable here: the machine decides too
    response = admin_client.get(_url(project), {"kind": "ppo"})
    assert response.context["picked_size"] == presets.default_preset()
    # a 7B-sized config.json: SFT, RM and DPO default to LoRA adapters, PPO has none
    big = tmp_path / "big"
    big.mkdir()
    (big / "config.json").write_text(
        '{"hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000}'
    )
    large = Checkpoint.objects.create(name="big", kind="sft", path=str(big))
    for kind, lora in (("sft", True), ("rm", True), ("dpo", True), ("ppo", None)):
        config = _defaults(admin_client, project, kind=kind, base_checkpoint=large.pk)
        assert config.get("lora") is lora, kind
    assert "LoRA adapters" in picked_size(large)[1]


def test_htmx_refresh_returns_the_fields_alone(admin_client, project):
    response = admin_client.get(_url(project), {"kind": "rm"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="job-start-fields"' in html and 'name="kind"' in html
    assert "reward_checkpoint" not in html


def test_bad_json_is_an_error_on_the_config(admin_client, project, campaign):
    response = _post(admin_client, project, config="{nope")
    assert response.status_code == 400
    assert "not valid JSON" in _errors(response, "config")
    assert not TrainingJob.objects.exists()


def test_an_unknown_config_key_is_refused_by_the_engine(admin_client, project, campaign):
    response = _post(admin_client, project, config={"learnin_rate": 0.1})
    assert response.status_code == 400
    assert "unknown SFTConfig key &#x27;learnin_rate&#x27;" in _errors(response, "config")
    assert not TrainingJob.objects.exists()
    # what was typed is kept for fixing
    assert "learnin_rate" in response.context["form"]["config"].value()


def test_ppo_without_a_reward_model_is_refused(admin_client, project, campaign):
    response = _post(admin_client, project, kind="ppo", config=default_config("ppo", "quick"))
    assert response.status_code == 400
    assert "needs a reward-model checkpoint" in _errors(response, "reward_checkpoint")
    assert not TrainingJob.objects.exists()


def test_serializer_errors_go_next_to_their_field(admin_client, project, campaign):
    response = _post(admin_client, project, base_checkpoint="999999", kind="bogus")
    assert response.status_code == 400
    assert "999999" in _errors(response, "base_checkpoint")
    assert "bogus" in _errors(response, "kind")
    assert not TrainingJob.objects.exists()


def test_a_service_refusal_of_a_config_key_goes_under_the_config(admin_client, project, campaign):
    response = _post(admin_client, project, config={"processes": 0})
    assert "processes: expected a whole number" in _errors(response, "config")


def test_a_valid_sft_job_is_created_and_enqueued_on_commit(
    admin_client, project, campaign, project_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(admin_client, project, config={"max_steps": 2, "epochs": 1})
    job = TrainingJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("dashboard-job", args=[project.slug, job.pk])
    assert (job.kind, job.status, job.created_by) == ("sft", "queued", project_admin)
    assert job.config == {"max_steps": 2, "epochs": 1}
    assert job.snapshot.kind == "demonstrations" and job.snapshot.n_rows > 0
    assert len(callbacks) == 1  # the enqueue, run only once the row is committed


def test_an_evaluation_takes_its_baseline(
    admin_client, project, campaign, tmp_path, django_capture_on_commit_callbacks
):
    folders = {name: tmp_path / name for name in ("policy", "rm")}
    for folder in folders.values():
        folder.mkdir()
    policy = Checkpoint.objects.create(name="p", kind="policy", path=str(folders["policy"]))
    reward = Checkpoint.objects.create(name="r", kind="rm", path=str(folders["rm"]))
    baseline = Checkpoint.objects.create(name="b", kind="base", path="tiny")
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(
            admin_client, project, kind="evaluate", base_checkpoint=str(policy.pk),
            reward_checkpoint=str(reward.pk), baseline_checkpoint=str(baseline.pk),
            config={"max_new_tokens": 8},
        )  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    job = TrainingJob.objects.get()
    assert job.config["baseline_checkpoint"] == baseline.pk
    assert job.config["parent_model"] == "tiny" and job.base_checkpoint == policy
    assert len(callbacks) == 1


def test_an_evaluation_needs_its_policy(admin_client, project, campaign, tmp_path):
    reward = Checkpoint.objects.create(name="r", kind="rm", path=str(tmp_path))
    response = _post(
        admin_client, project, kind="evaluate", reward_checkpoint=str(reward.pk), config={}
    )
    assert "needs the policy to evaluate" in _errors(response, "base_checkpoint")


def test_a_pipeline_is_started(admin_client, project, campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(
            admin_client, project, kind="pipeline", labelers="simulated", rounds="2",
            config={"preset": "quick", "sft": {"max_steps": 1}},
        )  # fmt: skip
    pipeline = Pipeline.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("dashboard-jobs", args=[project.slug])
    assert (pipeline.rounds, pipeline.labelers, pipeline.created_by.username) == (
        2, "simulated", "pia"
    )  # fmt: skip
    assert TrainingJob.objects.get().kind == "sft"  # its first stage, queued
    assert len(callbacks) == 1
    html = admin_client.get(response.url).content.decode()
    assert f"Pipeline {pipeline.pk} started" in html


def test_a_pipeline_refusal_names_its_field(admin_client, project, campaign):
    response = _post(admin_client, project, kind="pipeline", rounds="99", config={})
    assert "from 1 to 20" in _errors(response, "rounds")
    response = _post(admin_client, project, kind="pipeline", rounds="1", config={"ppx": {}})
    assert "unknown key &#x27;ppx&#x27;" in _errors(response, "config")
    assert not Pipeline.objects.exists()


def test_user_text_is_escaped(admin_client, project, campaign):
    response = _post(admin_client, project, config='{"<b>x</b>": 1}')
    html = response.content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_csrf_is_enforced(project, project_admin, campaign):
    client = Client(enforce_csrf_checks=True)
    client.force_login(project_admin)
    response = client.post(_url(project), {"kind": "sft", "config": "{}"})
    assert response.status_code == 403
    assert not TrainingJob.objects.exists()
