"""The training page's "Active selection" chart: RM held-out accuracy per 1,000 rankings, by
the selection policy of the tasks each RM job trained on.

The data is real: ranking tasks made with a selection policy (as a generate job makes them)
or without one (as an import does), rankings recorded by labelers, snapshots frozen by
``create_snapshot``. The RM jobs themselves are records only (succeeded, with an output
checkpoint's metrics): the report reads records, it does not train.
"""

from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.assignment.rankings import ItemInput, record_ranking
from pipelines import selection_report
from training.models import Checkpoint, JobMetric, TrainingJob
from training.snapshots import create_snapshot, snapshot_rows

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def artifacts(settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    # snapshot summaries are cached per process; each test starts with none
    selection_report.train_rankings_by_policy.cache_clear()


@pytest.fixture
def rank(make_task, labeler):
    """rank(policy, split="train", labelers=(labeler,)): one task, ranked by each labeler."""

    def make(policy: str, split: str = "train", labelers=(labeler,)):
        task = make_task(k=4, selection_policy=policy, selection_score=0.5 if policy else None)
        task.prompt.split = split
        task.prompt.save(update_fields=["split"])
        for who in labelers:
            record_ranking(task, who, [ItemInput(rank=r) for r in (1, 2, 3, 4)])
        return task

    return make


def rm_job(project, snapshot, metrics, *, status="succeeded"):
    checkpoint = Checkpoint.objects.create(
        name=f"rm-{snapshot.pk if snapshot else 'none'}",
        kind="rm",
        path="/nowhere",
        metrics=metrics,
    )
    return TrainingJob.objects.create(
        project=project,
        kind="rm",
        status=status,
        snapshot=snapshot,
        output_checkpoint=checkpoint,
        finished_at=timezone.now(),
    )


@pytest.fixture
def campaign(project, rank, labeler, other_labeler):
    """Three snapshots of one growing campaign, an RM job on each:

    imported: 2 train rankings of imported tasks, 1 validation, 1 test
    spread:   + 3 train rankings of rm_spread tasks (one task ranked twice), 1 validation
    mixed:    + 2 train rankings of rm_disagreement tasks
    """
    rank("")
    rank("")
    rank("", split="validation")
    rank("", split="test")
    imported = create_snapshot(project, "rankings")
    rank("rm_spread")
    rank("rm_spread", labelers=(labeler, other_labeler))
    rank("rm_spread", split="validation")
    spread = create_snapshot(project, "rankings")
    rank("rm_disagreement")
    rank("rm_disagreement")
    mixed = create_snapshot(project, "rankings")
    jobs = {
        "imported": rm_job(project, imported, {"eval/accuracy": 0.55, "eval/loss": 0.7}),
        "spread": rm_job(project, spread, {"eval/accuracy": 0.625}),
        "mixed": rm_job(project, mixed, {"eval/accuracy": 0.8}),
    }
    return {"imported": imported, "spread": spread, "mixed": mixed}, jobs


def by_job(rows):
    return {row["job"]: row for row in rows}


def test_each_job_is_labelled_by_the_policies_of_its_train_tasks(project, campaign):
    snapshots, jobs = campaign
    rows = by_job(selection_report.rm_accuracy_by_policy(project))
    assert {name: rows[job.pk]["policy"] for name, job in jobs.items()} == {
        "imported": "none (imported)",
        "spread": "rm_spread",  # imported tasks beside one policy's do not make it mixed
        "mixed": "mixed",
    }
    spread = rows[jobs["spread"].pk]
    assert spread["project"] == project.slug
    assert spread["accuracy"] == 0.625
    assert spread["finished_at"] == jobs["spread"].finished_at


def test_only_train_split_rankings_are_counted(project, campaign):
    snapshots, jobs = campaign
    splits = {row["split"] for row in snapshot_rows(snapshots["spread"])}
    assert splits == {"train", "validation", "test"}  # the snapshot holds them all
    rows = by_job(selection_report.rm_accuracy_by_policy(project))
    counts = {name: rows[job.pk]["rankings"] for name, job in jobs.items()}
    assert counts == {"imported": 2, "spread": 5, "mixed": 7}
    assert rows[jobs["mixed"].pk]["per_1000"] == 0.007


def test_jobs_without_accuracy_or_not_succeeded_are_left_out(project, campaign):
    snapshots, jobs = campaign
    left_out = [
        rm_job(project, snapshots["mixed"], {"eval/loss": 0.4}),
        rm_job(project, snapshots["mixed"], {"eval/accuracy": "n/a"}),
        rm_job(project, snapshots["mixed"], {"eval/accuracy": 0.9}, status="failed"),
        rm_job(project, snapshots["mixed"], {"eval/accuracy": 0.9}, status="running"),
        rm_job(project, None, {"eval/accuracy": 0.9}),
    ]
    sft = rm_job(project, snapshots["mixed"], {"eval/accuracy": 0.9})
    TrainingJob.objects.filter(pk=sft.pk).update(kind="sft")
    rows = by_job(selection_report.rm_accuracy_by_policy())
    assert set(rows) == {job.pk for job in jobs.values()}
    assert not {job.pk for job in [*left_out, sft]} & set(rows)


def test_a_job_whose_snapshot_files_are_gone_is_left_out(project, campaign):
    snapshots, jobs = campaign
    folder = Path(snapshots["imported"].path)
    folder.rename(folder.with_name("gone"))
    rows = by_job(selection_report.rm_accuracy_by_policy(project))
    assert set(rows) == {jobs["spread"].pk, jobs["mixed"].pk}


def test_accuracy_is_read_as_the_pipeline_reads_a_jobs_final_metrics(project, campaign):
    """Like ``stage_metrics``: the last metric step, then the checkpoint's metrics over it."""
    snapshots, _ = campaign
    from_series = rm_job(project, snapshots["spread"], {})
    JobMetric.objects.create(job=from_series, step=5, values={"eval/accuracy": 0.6})
    JobMetric.objects.create(job=from_series, step=10, values={"eval/accuracy": 0.7})
    overridden = rm_job(project, snapshots["spread"], {"eval/accuracy": 0.75})
    JobMetric.objects.create(job=overridden, step=10, values={"eval/accuracy": 0.5})
    rows = by_job(selection_report.rm_accuracy_by_policy(project))
    assert rows[from_series.pk]["accuracy"] == 0.7
    assert rows[overridden.pk]["accuracy"] == 0.75


def test_a_project_sees_only_its_jobs_and_snapshots_are_read_once(project, campaign):
    from labeling.models import Project

    other = Project.objects.create(slug="elsewhere", name="Elsewhere")
    snapshots, jobs = campaign
    theirs = rm_job(other, snapshots["spread"], {"eval/accuracy": 0.9})
    assert theirs.pk not in by_job(selection_report.rm_accuracy_by_policy(project))
    assert by_job(selection_report.rm_accuracy_by_policy())[theirs.pk]["project"] == "elsewhere"
    # three snapshots, read once each, whatever the number of jobs and requests
    assert selection_report.train_rankings_by_policy.cache_info().misses == 3


def test_the_figure_has_one_series_per_policy_in_thousands(project, campaign):
    snapshots, jobs = campaign
    later = rm_job(project, snapshots["imported"], {"eval/accuracy": 0.5})
    rows = selection_report.rm_accuracy_by_policy(project)
    fig = selection_report.figure(rows)
    traces = {trace.name: trace for trace in fig.data}
    assert set(traces) == {"none (imported)", "rm_spread", "mixed"}
    assert list(traces["none (imported)"].x) == [0.002, 0.002]
    assert list(traces["none (imported)"].y) == [0.55, 0.5]
    assert sorted(traces["none (imported)"].customdata) == sorted([jobs["imported"].pk, later.pk])
    assert list(traces["rm_spread"].x) == [0.005]
    assert list(traces["mixed"].x) == [0.007]
    assert all(trace.mode == "lines+markers" for trace in fig.data)
    assert fig.layout.title.text == selection_report.TITLE
    assert tuple(fig.layout.yaxis.range) == (0.4, 1.0)
    assert [shape.y0 for shape in fig.layout.shapes] == [0.5]


def test_the_training_page_shows_the_chart_and_table(
    project, campaign, client, admin_user, labeler
):
    snapshots, jobs = campaign
    client.force_login(labeler)  # not staff: sent to the admin's login
    assert client.get(reverse("dashboard-training")).status_code == 302
    client.force_login(admin_user)
    html = client.get(reverse("dashboard-training")).content.decode()
    assert reverse("dashboard-plotly-js") in html
    assert 'id="chart-selection"' in html
    row = html[html.index(f'data-job="{jobs["spread"].pk}"') :].split("</tr>")[0]
    assert '<td data-field="policy">rm_spread</td>' in row
    assert '<td data-field="rankings">5</td>' in row
    assert "62.5%" in row
    assert "No reward-model job" not in html


def test_the_training_page_says_when_there_is_nothing_to_chart(client, admin_user, project):
    client.force_login(admin_user)
    html = client.get(reverse("dashboard-training")).content.decode()
    assert "No reward-model job with held-out accuracy yet" in html
    assert 'id="chart-selection"' not in html
