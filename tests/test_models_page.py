"""/dashboard/<slug>/models/: the checkpoint lineage of the project's jobs (snapshot → SFT →
RM → PPO → evaluations) and a checkpoint's folder as a zip. The project's admins only."""

import io
import zipfile

import pytest
from django.urls import reverse

from labeling.models import Project
from training.lineage import project_lineage
from training.models import Checkpoint, DatasetSnapshot, JobMetric, TrainingJob


@pytest.fixture
def artifacts(settings, tmp_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    settings.PREFLAB_ARTIFACTS_DIR = folder
    return folder


def _folder(artifacts, name, files):
    folder = artifacts / name
    folder.mkdir(parents=True)
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return str(folder)


def build_world(project, artifacts):
    """A base model, SFT from it on a snapshot, an RM from the SFT, a PPO policy from the SFT
    against that RM, and an evaluation of the policy."""
    snapshot = DatasetSnapshot.objects.create(
        project=project, kind="comparisons", content_hash="ab" * 32, path="/x", n_rows=120
    )
    base = Checkpoint.objects.create(name="tiny-base", kind="base", path="hub/tiny-gpt")
    sft_path = _folder(artifacts, "sft-1", {"config.json": "{}", "weights/model.bin": "w"})
    sft = Checkpoint.objects.create(
        name="tiny-sft", kind="sft", path=sft_path, parent=base, metrics={"eval/loss": 1.25}
    )
    rm = Checkpoint.objects.create(
        name="tiny-rm", kind="rm", path=_folder(artifacts, "rm-1", {"a.txt": "rm"}),
        parent=sft, snapshot=snapshot, metrics={"eval/accuracy": 0.71, "train/loss": 0.3},
    )  # fmt: skip
    policy = Checkpoint.objects.create(
        name="tiny-ppo", kind="policy", path=_folder(artifacts, "ppo-1", {"p.txt": "p"}),
        parent=sft, metrics={"ppo/score_gain": 0.42, "objective/kl": 2.5},
    )  # fmt: skip
    TrainingJob.objects.create(
        project=project, kind="sft", status="succeeded", base_checkpoint=base,
        output_checkpoint=sft,
    )  # fmt: skip
    TrainingJob.objects.create(
        project=project, kind="rm", status="succeeded", base_checkpoint=sft, snapshot=snapshot,
        output_checkpoint=rm,
    )  # fmt: skip
    TrainingJob.objects.create(
        project=project, kind="ppo", status="succeeded", base_checkpoint=sft,
        output_checkpoint=policy, config={"reward_model": rm.path},
    )  # fmt: skip
    evaluation = TrainingJob.objects.create(
        project=project, kind="evaluate", status="succeeded", base_checkpoint=policy,
        config={"reward_model": rm.path, "baseline_checkpoint": sft.pk},
    )  # fmt: skip
    JobMetric.objects.create(job=evaluation, step=1, values={"eval/win_rate": 0.625})
    return {
        "snapshot": snapshot, "base": base, "sft": sft, "rm": rm, "policy": policy,
        "evaluation": evaluation,
    }  # fmt: skip


def test_only_the_projects_admins_see_it(
    client, project, labeler, reviewer, project_admin, admin_user, artifacts
):
    world = build_world(project, artifacts)
    urls = [
        reverse("dashboard-models", args=[project.slug]),
        reverse("dashboard-checkpoint-download", args=[project.slug, world["sft"].pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url
        for refused in (labeler, reviewer):
            client.force_login(refused)
            assert client.get(url).status_code == 403, (url, refused.username)
        for allowed in (project_admin, admin_user):
            client.force_login(allowed)
            assert client.get(url).status_code == 200, (url, allowed.username)
        client.logout()


def test_the_lineage_of_the_jobs(project, artifacts):
    world = build_world(project, artifacts)
    lineage = project_lineage(project)
    nodes = {node["id"]: node for node in lineage["nodes"]}
    ids = {name: f"checkpoint-{world[name].pk}" for name in ("base", "sft", "rm", "policy")}
    evaluation = f"evaluation-{world['evaluation'].pk}"
    snapshot = f"snapshot-{world['snapshot'].pk}"
    assert set(nodes) == {*ids.values(), evaluation, snapshot}
    edges = {(e["source"], e["target"]): e["label"] for e in lineage["edges"]}
    assert edges == {
        (ids["base"], ids["sft"]): "",
        (ids["sft"], ids["rm"]): "",
        (snapshot, ids["rm"]): "",
        (ids["sft"], ids["policy"]): "",
        (ids["rm"], ids["policy"]): "reward",
        (ids["policy"], evaluation): "win rate 0.625",
        (ids["sft"], evaluation): "baseline",
        (ids["rm"], evaluation): "judge",
    }
    assert nodes[ids["rm"]]["metrics"] == {"eval/accuracy": 0.71}
    assert nodes[ids["policy"]]["metrics"] == {"ppo/score_gain": 0.42, "objective/kl": 2.5}
    assert nodes[evaluation]["metrics"] == {"eval/win_rate": 0.625}
    columns = {node["kind"]: node["x"] for node in lineage["nodes"]}
    assert columns == {"snapshot": 0, "base": 1, "sft": 2, "rm": 3, "policy": 4, "evaluation": 5}


def test_the_page_draws_the_graph_and_lists_the_checkpoints(
    client, project, project_admin, artifacts
):
    world = build_world(project, artifacts)
    client.force_login(project_admin)
    html = client.get(reverse("dashboard-models", args=[project.slug])).content.decode()
    assert 'id="chart-lineage"' in html
    for name in ("tiny-base", "tiny-sft", "tiny-rm", "tiny-ppo"):
        assert name in html
    download = reverse("dashboard-checkpoint-download", args=[project.slug, world["sft"].pk])
    assert download in html
    # a hub id has no folder to download
    base = reverse("dashboard-checkpoint-download", args=[project.slug, world["base"].pk])
    assert base not in html


def test_an_empty_project_has_no_graph(client, project, project_admin):
    client.force_login(project_admin)
    html = client.get(reverse("dashboard-models", args=[project.slug])).content.decode()
    assert 'id="no-lineage"' in html and "chart-lineage" not in html


def test_the_download_zips_the_folder(client, project, project_admin, artifacts):
    world = build_world(project, artifacts)
    client.force_login(project_admin)
    url = reverse("dashboard-checkpoint-download", args=[project.slug, world["sft"].pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert ".zip" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["config.json", "weights/model.bin"]
    assert archive.read("weights/model.bin") == b"w"


def test_the_download_leaves_out_symlinks(client, project, project_admin, artifacts, tmp_path):
    world = build_world(project, artifacts)
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    (artifacts / "sft-1" / "leak.txt").symlink_to(secret)
    client.force_login(project_admin)
    url = reverse("dashboard-checkpoint-download", args=[project.slug, world["sft"].pk])
    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(url).streaming_content)))
    assert "leak.txt" not in archive.namelist()


def test_what_cannot_be_downloaded_is_not_found(
    client, project, project_admin, artifacts, tmp_path
):
    world = build_world(project, artifacts)
    client.force_login(project_admin)

    def status(checkpoint_id, slug=project.slug):
        url = reverse("dashboard-checkpoint-download", args=[slug, checkpoint_id])
        return client.get(url).status_code

    # another project's checkpoint
    other = Project.objects.create(slug="other", name="Other")
    theirs = Checkpoint.objects.create(
        name="theirs", kind="sft", path=_folder(artifacts, "theirs", {"t.txt": "t"})
    )
    TrainingJob.objects.create(project=other, kind="sft", output_checkpoint=theirs)
    assert status(theirs.pk) == 404
    # a checkpoint no job uses
    loose = Checkpoint.objects.create(
        name="loose", kind="sft", path=_folder(artifacts, "loose", {"l.txt": "l"})
    )
    assert status(loose.pk) == 404
    # a folder outside the artifacts, directly or through ".."
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_text("o")
    for path in (str(outside), str(artifacts / ".." / "outside"), str(artifacts)):
        world["policy"].path = path
        world["policy"].save()
        assert status(world["policy"].pk) == 404, path
    # a hub id, and a folder that does not exist
    assert status(world["base"].pk) == 404
    world["policy"].path = str(artifacts / "gone")
    world["policy"].save()
    assert status(world["policy"].pk) == 404
    assert status(999999) == 404
