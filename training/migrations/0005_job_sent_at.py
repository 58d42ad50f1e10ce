from django.db import migrations, models
from django.db.models import F


def mark_existing_jobs_sent(apps, schema_editor):
    # jobs made before the outbox were enqueued when created: the sender must not send
    # their messages a second time
    TrainingJob = apps.get_model("training", "TrainingJob")
    TrainingJob.objects.filter(sent_at__isnull=True).update(sent_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0004_job_inputs_frozen_ptx_corpus"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingjob",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_existing_jobs_sent, migrations.RunPython.noop),
    ]
