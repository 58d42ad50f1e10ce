"""The labeler simulator: rows it creates and noise that shows up in the statistics."""

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.demo.simulation import labeler_ranks
from labeling.models import Assignment, Project, Ranking, RankingItem, RankingTask
from labeling.quality.agreement import project_agreement


def test_noise_free_labeler_reproduces_the_true_order():
    rng = np.random.default_rng(0)
    quality = np.array([0.1, 2.0, -1.0, 0.9])
    assert labeler_ranks(quality, 0.0, rng, tie_prob=0) == [3, 1, 4, 2]
    # Ties only between close calls, and never everything tied.
    close = np.array([0.0, 0.01, 0.02])
    ranks = labeler_ranks(close, 0.0, rng, tie_prob=1.0)
    assert len(set(ranks)) >= 2


@pytest.mark.django_db
def test_command_creates_a_campaign():
    out = StringIO()
    call_command(
        "simulate_labelers",
        "--project=simdemo",
        "--labelers=5",
        "--spammers=1",
        "--tasks=40",
        "--overlap=3",
        "--k=4..9",
        "--noise=0.3",
        "--skip-prob=0.1",
        stdout=out,
    )
    assert "created project simdemo" in out.getvalue()
    project = Project.objects.get(slug="simdemo")
    assert project.memberships.count() == 6
    tasks = RankingTask.objects.filter(project=project)
    assert tasks.count() == 40
    assert set(tasks.values_list("k", flat=True)) <= set(range(4, 10))
    rankings = Ranking.objects.filter(task__project=project).count()
    skips = Assignment.objects.filter(task__project=project, status="skipped").count()
    assert rankings + skips == 40 * 3
    assert RankingItem.objects.filter(ranking__task__project=project).count() > 4 * rankings - 1

    doc = project_agreement(project)
    by_name = {row["username"]: row for row in doc["labelers"]}
    assert len(by_name) == 6
    # The spammer (labeler 6) agrees least; the least noisy labeler best.
    agreement = {name: row["agreement"] for name, row in by_name.items()}
    assert min(agreement, key=agreement.get) == "sim-labeler-6"
    assert agreement["sim-labeler-1"] > agreement["sim-labeler-6"] + 0.1
    assert doc["n_tasks_with_overlap"] > 30
    assert 0 < doc["pairwise_agreement"] < 1


@pytest.mark.django_db
def test_noise_levels_must_match_labelers():
    with pytest.raises(CommandError, match="one level per labeler"):
        call_command("simulate_labelers", "--project=x", "--labelers=2", "--noise-levels=0.1")


@pytest.mark.django_db
def test_refused_simulations_write_nothing():
    """The project and prompt rules hold for the bulk-written campaign too: K within the
    project's range, no prompt the project has already (the same --prefix and --seed)."""
    from labeling import projects

    projects.create_project(slug="narrow", name="Narrow", k_min=4, k_max=5)
    with pytest.raises(CommandError, match=r"k: 4\.\.7 is outside the project's 4\.\.5"):
        call_command("simulate_labelers", "--project=narrow", "--k=4..7", "--tasks=3")
    assert not RankingTask.objects.exists()
    with pytest.raises(CommandError, match="overlap: must be from 1 to 100"):
        call_command("simulate_labelers", "--project=new", "--overlap=0", "--tasks=3")
    assert not Project.objects.filter(slug="new").exists()  # nor the project it would make
    call_command(
        "simulate_labelers", "--project=narrow", "--k=4..5", "--tasks=3", stdout=StringIO()
    )
    with pytest.raises(CommandError, match="seed: the project has this simulation's prompts"):
        call_command("simulate_labelers", "--project=narrow", "--k=4..5", "--tasks=3")
    assert RankingTask.objects.count() == 3


@pytest.mark.django_db
def test_simulated_authors_stay_under_the_per_user_cap():
    from collections import Counter

    from labeling import projects
    from labeling.models import Prompt

    projects.create_project(slug="capped", name="Capped", prompt_cap_per_user=1)
    call_command(
        "simulate_labelers", "--project=capped", "--tasks=30", "--labelers=2", stdout=StringIO()
    )
    authors = Counter(Prompt.objects.values_list("source_user", flat=True))
    assert len(authors) == 30 and max(authors.values()) == 1
    with pytest.raises(CommandError, match="prefix: sim-author-0 would pass the per-user cap"):
        call_command("simulate_labelers", "--project=capped", "--tasks=3", "--seed=1")
