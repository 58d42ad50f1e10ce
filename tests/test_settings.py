"""Settings defaults and the production guard, read in fresh interpreters."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT = (
    "import json, django; from django.conf import settings; django.setup();"
    "db = settings.DATABASES['default'];"
    "print(json.dumps({'engine': db['ENGINE'], 'name': str(db['NAME']), "
    "'options': db.get('OPTIONS', {}), 'broker': settings.CELERY_BROKER_URL, "
    "'debug': settings.DEBUG, 'artifacts': str(settings.PREFLAB_ARTIFACTS_DIR), "
    "'base_model': settings.PREFLAB_BASE_MODEL, 'hosts': settings.ALLOWED_HOSTS}))"
)
KEYS = ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS",
        "PREFLAB_ARTIFACTS_DIR", "PREFLAB_BASE_MODEL")  # fmt: skip


def settings_in(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in KEYS}
    clean.update(DJANGO_SETTINGS_MODULE="preflab.settings", PREFLAB_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_embedded_defaults(tmp_path):
    result = settings_in(tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "preflab.sqlite3")
    assert values["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in values["options"]["init_command"]
    assert values["broker"] == "filesystem://localhost/"
    assert (tmp_path / "broker" / "queue").is_dir()
    assert values["artifacts"] == str(tmp_path / "artifacts")
    assert values["base_model"] == "smollm2-135m-instruct"
    assert values["debug"] is True


def test_environment_overrides(tmp_path):
    result = settings_in(
        tmp_path,
        DATABASE_URL="postgres://u@db.example:5432/pl",
        CELERY_BROKER_URL="redis://cache:6379/0",
        DEBUG="0",
        SECRET_KEY="s3cret-for-test",
        ALLOWED_HOSTS="preflab.example,localhost",
        PREFLAB_ARTIFACTS_DIR="/data/artifacts",
        PREFLAB_BASE_MODEL="/models/llama",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["broker"] == "redis://cache:6379/0"
    assert values["debug"] is False
    assert values["hosts"] == ["preflab.example", "localhost"]
    assert values["artifacts"] == "/data/artifacts" and values["base_model"] == "/models/llama"


def test_production_refuses_the_default_secret_key(tmp_path):
    result = settings_in(tmp_path, DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_job_commands_on_the_embedded_default_print_no_broker_warning(tmp_path):
    """kombu warns "No hostname was supplied" for a broker URL without a host; the CLI's job
    commands enqueue on the filesystem broker and must not print it."""
    clean = {k: v for k, v in os.environ.items() if k not in KEYS}
    clean.update(PREFLAB_VAR_DIR=str(tmp_path), PREFLAB_BASE_MODEL="tiny")

    def manage(*args, **env):
        command = [sys.executable, "manage.py", *args]
        result = subprocess.run(command, cwd=ROOT, env=clean | env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    manage("migrate", "-v0")
    manage("seed_demo", "--no-training")
    out = manage("train", "sft", "--project", "demo")
    assert "queued" in out and "No hostname" not in out
    # the URL kombu warns about, for contrast: the check above can fail
    old = manage("train", "sft", "--project", "demo", CELERY_BROKER_URL="filesystem://")
    assert "No hostname was supplied" in old


def _check_deploy(tmp_path, **env):
    # the browser tests' conftest allows async-unsafe ORM calls in this process: not deployed
    unset = (*KEYS, "PREFLAB_HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    clean.update(PREFLAB_VAR_DIR=str(tmp_path), DEBUG="0", **env)
    clean["SECRET_KEY"] = "x7#Qp2!vL9@mZ4$wR8^tY1&uK6*oN3(eB5)cH0_jF-sD+gA=iT%lE" * 2
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(command, cwd=ROOT, env=clean, capture_output=True, text=True)


def test_the_https_switch_passes_check_deploy(tmp_path):
    result = _check_deploy(tmp_path, PREFLAB_HTTPS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # without the switch the same settings fail on HSTS and the redirect: the check can fail
    plain = _check_deploy(tmp_path)
    assert plain.returncode != 0
    assert "security.W004" in plain.stderr and "security.W008" in plain.stderr


def test_lockout_and_rates_come_from_the_environment(tmp_path):
    code = (
        "import django; from django.conf import settings; django.setup();"
        "print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds(),"
        " settings.PREFLAB_ANON_THROTTLE, settings.PREFLAB_USER_THROTTLE)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFLAB_")}
    clean.update(DJANGO_SETTINGS_MODULE="preflab.settings", PREFLAB_VAR_DIR=str(tmp_path))

    def values(**env):
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=clean | env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.split()

    assert values() == ["10", "900.0", "60/min", "100000/hour"]
    assert values(
        PREFLAB_LOGIN_FAILURE_LIMIT="5",
        PREFLAB_LOGIN_COOLOFF_MINUTES="30",
        PREFLAB_ANON_THROTTLE="10/min",
        PREFLAB_USER_THROTTLE="500/hour",
    ) == ["5", "1800.0", "10/min", "500/hour"]
