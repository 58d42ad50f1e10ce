"""The embedded default under load: 20 labelers at once on the SQLite file get no error.

"database is locked" is a bug here: settings put SQLite in WAL mode with a busy timeout
and IMMEDIATE transactions. The scenario runs in a subprocess with its own SQLite file
(whatever database the rest of the suite uses), migrated for real, with 20 threads that
each hold their own connection and go through the web views: take a task, save a draft,
submit, until the queue is empty.

Run directly (``python tests/test_sqlite_concurrency.py``) it is that subprocess.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABELERS = 20
TASKS = 40
OVERLAP = 3


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_twenty_labelers_on_sqlite_get_no_error(tmp_path):
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'load.sqlite3'}",
        PREFLAB_VAR_DIR=str(tmp_path / "var"),
        ALLOWED_HOSTS="testserver,localhost",
        DEBUG="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=240,
    )
    result = subprocess.run(
        [sys.executable, __file__],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "database is locked" not in result.stderr
    assert f"OK {TASKS * OVERLAP} rankings" in result.stdout


def scenario():  # pragma: no cover - runs in the subprocess
    import json
    import threading
    import traceback
    from collections import Counter

    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflab.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from labeling import roles
    from labeling.intake import dedup
    from labeling.intake.ranking_tasks import create_ranking_task
    from labeling.models import Assignment, Project, Prompt, Ranking, Response

    assert connection.vendor == "sqlite"
    project = Project.objects.create(slug="load", name="Load", overlap=OVERLAP, gold_rate=0)
    for t in range(TASKS):
        text = f"Load prompt {t}"
        prompt = Prompt.objects.create(
            project=project, text=text, dedup_key=dedup.dedup_key(text, 200)
        )
        responses = [
            Response.objects.create(prompt=prompt, text=f"r{i}", text_hash=dedup.text_hash(f"r{i}"))
            for i in range(4)
        ]
        create_ranking_task(project, prompt, responses)
    users = []
    for i in range(LABELERS):
        user = get_user_model().objects.create_user(f"load{i}")
        roles.grant(user, project, "labeler")
        users.append(user)
    errors = []
    barrier = threading.Barrier(LABELERS)

    def work(user):
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            while True:
                response = client.get("/p/load/rank/")
                if response.status_code == 200:
                    assert b"Nothing to rank" in response.content, response.status_code
                    return
                assert response.status_code == 302, response.status_code
                task_url = response.url
                page = client.get(task_url)
                assert page.status_code == 200, page.status_code
                a = Assignment.objects.filter(labeler=user, status="active").get()
                draft = {"groups": [[0], [1]], "seconds": 3}
                saved = client.post(task_url + "draft/", {"draft": json.dumps(draft)})
                assert saved.status_code == 204, saved.status_code
                data = {"submission_key": f"{user.pk}-{a.pk}", "seconds_spent": "3"}
                for pos in range(4):
                    data[f"rank-{pos}"] = str(pos + 1)
                    data[f"likert-{pos}"] = "4"
                done = client.post(task_url, data)
                assert done.status_code == 302, done.content.decode()[-2000:]
        except Exception:
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    per_task = Counter(Ranking.objects.values_list("task_id", flat=True))
    assert set(per_task.values()) == {OVERLAP} and len(per_task) == TASKS, per_task
    print(f"OK {sum(per_task.values())} rankings")


if __name__ == "__main__":
    scenario()
