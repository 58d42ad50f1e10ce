from django.db import migrations, models


class Migration(migrations.Migration):
    """``Response.checkpoint_id`` joins the state as a plain integer column.

    State only: the database is brought to it by 0006, which has to look at what the database
    holds (a foreign-key column into training from the old 0002, or no column at all). That
    step runs in its own migration so that its ``apps`` already know the field.
    """

    dependencies = [
        ("labeling", "0004_task_held_slots"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="response",
                    name="checkpoint_id",
                    field=models.BigIntegerField(
                        blank=True,
                        db_index=True,
                        help_text=(
                            "Id of the training checkpoint that generated it "
                            "(recorded by training)."
                        ),
                        null=True,
                        verbose_name="checkpoint",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
