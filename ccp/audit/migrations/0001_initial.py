from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "tenant_id",
                    models.UUIDField(blank=True, db_index=True, help_text="The tenant the action was in.", null=True),
                ),
                ("tenant_slug", models.CharField(blank=True, max_length=63)),
                ("actor_type", models.CharField(help_text="user, partner or system", max_length=16)),
                ("actor_id", models.CharField(blank=True, max_length=64)),
                ("actor_repr", models.CharField(blank=True, max_length=200)),
                ("actor_role", models.CharField(blank=True, max_length=16)),
                (
                    "action",
                    models.CharField(
                        db_index=True, help_text="What was done, e.g. conversation.monitor.", max_length=64
                    ),
                ),
                ("object_type", models.CharField(blank=True, max_length=100)),
                ("object_id", models.CharField(blank=True, max_length=64)),
                ("object_repr", models.CharField(blank=True, max_length=200)),
                ("before", models.JSONField(blank=True, null=True)),
                ("after", models.JSONField(blank=True, null=True)),
                ("source_ip", models.GenericIPAddressField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit log",
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["tenant_id", "-created_at"], name="audit_tenant_time")],
            },
        ),
    ]
