"""The ranking page: serving, submitting, refusing with the draft kept, skipping, escaping."""

import json

import pytest
from django.urls import reverse

from labeling.assignment import engine
from labeling.models import Assignment, Ranking, RankingTask


@pytest.fixture
def client_lena(client, labeler):
    client.force_login(labeler)
    return client


def post_data(a, ranks_by_pos, likert=4, **extra):
    data = {"submission_key": extra.pop("key", "key-1"), "seconds_spent": "12"}
    for pos, rank in ranks_by_pos.items():
        data[f"rank-{pos}"] = str(rank)
        data[f"likert-{pos}"] = str(likert)
    data.update(extra)
    return data


def test_next_redirects_to_assignment(project, make_task, client_lena, labeler):
    make_task()
    response = client_lena.get(reverse("rank-next", args=[project.slug]))
    a = Assignment.objects.get(labeler=labeler)
    assert response.status_code == 302
    assert response.url == reverse("rank-task", args=[project.slug, a.id])


def test_empty_queue_page(project, client_lena):
    response = client_lena.get(reverse("rank-next", args=[project.slug]))
    assert response.status_code == 200 and b"Nothing to rank" in response.content


def test_non_member_is_forbidden(project, make_task, client, django_user_model):
    make_task()
    client.force_login(django_user_model.objects.create_user("outsider"))
    assert client.get(reverse("rank-next", args=[project.slug])).status_code == 403


def test_login_required(project, client):
    response = client.get(reverse("rank-next", args=[project.slug]))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_page_shows_responses_in_per_labeler_order(project, make_task, client_lena, labeler):
    task = make_task(k=6, texts=[f"Answer {c}" for c in "ABCDEF"])
    a = engine.next_assignment(project, labeler)
    html = client_lena.get(reverse("rank-task", args=[project.slug, a.id])).content.decode()
    order = engine.display_order(task, labeler)
    positions = [html.index(f"Answer {'ABCDEF'[p]}</div>") for p in order]
    assert positions == sorted(positions)
    assert "fails to follow instruction" in html.lower()  # the default InstructGPT flags


def test_user_text_is_escaped(project, make_task, client_lena, labeler):
    evil = '<script>window.pwned=1</script><img src=x onerror="alert(1)">'
    make_task(texts=[evil, "b", "c", "d"], prompt_text="<b>bold?</b>")
    a = engine.next_assignment(project, labeler)
    html = client_lena.get(reverse("rank-task", args=[project.slug, a.id])).content.decode()
    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html


def test_submit_records_ranking_in_canonical_order(project, make_task, client_lena, labeler):
    task = make_task(k=4)
    a = engine.next_assignment(project, labeler)
    url = reverse("rank-task", args=[project.slug, a.id])
    data = post_data(a, {0: 2, 1: 1, 2: 3, 3: 3}, **{"flags-1": ["hallucination"]})
    response = client_lena.post(url, data)
    assert response.status_code == 302
    ranking = Ranking.objects.get(assignment_id=a.id)
    by_response = {i.response_id: (i.rank, i.likert, i.flags) for i in ranking.items.all()}
    responses = task.ordered_responses()
    assert by_response[responses[1].pk] == (1, 4, ["hallucination"])
    assert [by_response[r.pk][0] for r in responses] == [2, 1, 3, 3]
    # A retried POST (same key) creates nothing new.
    assert client_lena.post(url, data).status_code == 302
    assert Ranking.objects.count() == 1


def test_invalid_submit_names_the_response_and_keeps_draft(
    project, make_task, client_lena, labeler
):
    make_task(k=4)
    a = engine.next_assignment(project, labeler)
    url = reverse("rank-task", args=[project.slug, a.id])
    data = post_data(a, {0: 1, 1: 2, 2: 3})  # position 3 not ranked nor rated
    data["comment"] = "draft comment"
    response = client_lena.post(url, data)
    assert response.status_code == 400
    number = engine.display_order(RankingTask.objects.get(pk=a.task_id), labeler).index(3) + 1
    assert f"Response {number} is not ranked yet." in response.content.decode()
    a = Assignment.objects.get(pk=a.id)
    assert a.draft["groups"] == [[0], [1], [2]] and a.draft["comment"] == "draft comment"
    assert not Ranking.objects.exists()


def test_out_of_range_rating_refused(project, make_task, client_lena, labeler):
    make_task(k=4)
    a = engine.next_assignment(project, labeler)
    url = reverse("rank-task", args=[project.slug, a.id])
    response = client_lena.post(url, post_data(a, {0: 1, 1: 2, 2: 3, 3: 4}, likert=9))
    assert response.status_code == 400 and b"the rating must be 1 to 7" in response.content
    assert not Ranking.objects.exists()


def test_throttled_submit_says_why(project, make_task, client_lena, labeler):
    project.min_seconds_per_task = 600
    project.save()
    make_task(k=4)
    a = engine.next_assignment(project, labeler)
    url = reverse("rank-task", args=[project.slug, a.id])
    response = client_lena.post(url, post_data(a, {0: 1, 1: 2, 2: 3, 3: 4}))
    assert response.status_code == 400
    assert b"at least 600 seconds per task" in response.content
    a = Assignment.objects.get(pk=a.id)
    assert a.status == "active" and a.draft["groups"] == [[0], [1], [2], [3]]


def test_draft_endpoint_and_reload(project, make_task, client_lena, labeler):
    make_task(k=4)
    a = engine.next_assignment(project, labeler)
    draft = {"groups": [[2], [0, 1]], "likert": {"2": 6}, "comment": "half way", "seconds": 40}
    url = reverse("rank-draft", args=[project.slug, a.id])
    assert client_lena.post(url, {"draft": json.dumps(draft)}).status_code == 204
    assert client_lena.post(url, {"draft": "not json"}).status_code == 400
    html = client_lena.get(reverse("rank-task", args=[project.slug, a.id])).content.decode()
    assert "half way" in html
    assert 'name="likert-2" value="6" checked' in html
    assert '"groups": [[2], [0, 1]]' in html


def test_someone_elses_assignment_is_404(project, make_task, client, labeler, other_labeler):
    make_task()
    a = engine.next_assignment(project, labeler)
    client.force_login(other_labeler)
    assert client.get(reverse("rank-task", args=[project.slug, a.id])).status_code == 404


def test_skip_with_reason(project, make_task, client_lena, labeler):
    make_task()
    a = engine.next_assignment(project, labeler)
    url = reverse("rank-skip", args=[project.slug, a.id])
    response = client_lena.post(url, {"reason": "other", "detail": ""})
    assert response.status_code == 302
    a = Assignment.objects.get(pk=a.id)
    assert a.status == "active"
    client_lena.post(url, {"reason": "expertise", "detail": "medical"})
    a = Assignment.objects.get(pk=a.id)
    assert a.status == "skipped"
    assert a.skip_reason == "I lack the knowledge to judge this: medical"


def test_all_unacceptable_checkbox(project, make_task, client_lena, labeler):
    make_task(k=4)
    a = engine.next_assignment(project, labeler)
    url = reverse("rank-task", args=[project.slug, a.id])
    client_lena.post(url, post_data(a, {0: 1, 1: 2, 2: 3, 3: 4}, all_unacceptable="on"))
    assert Ranking.objects.get().all_unacceptable is True


def test_gold_task_is_not_revealed(project, make_task, client_lena, labeler):
    project.gold_rate = 1.0
    project.save()
    make_task()
    gold = make_task(is_gold=True, gold_ranks=[4, 3, 2, 1])
    a = engine.next_assignment(project, labeler)
    assert a.task_id == gold.pk
    html = client_lena.get(reverse("rank-task", args=[project.slug, a.id])).content.decode()
    assert "gold" not in html.lower()
