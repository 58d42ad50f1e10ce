import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflab.settings")

app = Celery("preflab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="preflab.ping")
def ping():
    """A no-op round trip: proves a broker and a worker are connected."""
    return "pong"
