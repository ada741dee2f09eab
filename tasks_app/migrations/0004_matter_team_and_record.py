"""Matters get a team with roles, a closed state and their own record fields.

The wall's member list (an automatic many-to-many table) becomes the team:
the same table, now a model with each person's role on the matter (the
recipe from Django's docs for adding a through model to an existing
ManyToManyField: the state changes, the table stays). Existing members get
a role from their firm role (a partner becomes the responsible partner).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def roles_from_firm_roles(apps, schema_editor):
    member_model = apps.get_model("tasks_app", "MatterMember")
    membership_model = apps.get_model("tasks_app", "Membership")
    firm_roles = dict(membership_model.objects.values_list("user_id", "role"))
    with_partner = set()
    for member in member_model.objects.order_by("matter_id", "id"):
        role = firm_roles.get(member.user_id)
        if role == "PARTNER" and member.matter_id not in with_partner:
            member.role = "RESPONSIBLE_PARTNER"
            with_partner.add(member.matter_id)
        elif role == "PARALEGAL":
            member.role = "PARALEGAL"
        else:
            continue
        member.save(update_fields=["role"])


class Migration(migrations.Migration):
    dependencies = [
        ("tasks_app", "0003_taskwatch"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="MatterMember",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "matter",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="team",
                                to="tasks_app.matter",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "tasks_app_matter_members",
                        "unique_together": {("matter", "user")},
                    },
                ),
                migrations.AlterField(
                    model_name="matter",
                    name="members",
                    field=models.ManyToManyField(
                        blank=True,
                        help_text=(
                            "The matter's team (inside the wall when the matter "
                            "is walled)."
                        ),
                        related_name="team_matters",
                        through="tasks_app.MatterMember",
                        through_fields=("matter", "user"),
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="mattermember",
            name="role",
            field=models.CharField(
                choices=[
                    ("RESPONSIBLE_PARTNER", "Responsible partner"),
                    ("ASSOCIATE", "Associate"),
                    ("PARALEGAL", "Paralegal"),
                    ("REVIEWER", "Reviewer"),
                ],
                default="ASSOCIATE",
                max_length=24,
            ),
        ),
        migrations.AddField(
            model_name="mattermember",
            name="added_at",
            field=models.DateTimeField(
                auto_now_add=True, default=django.utils.timezone.now
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="mattermember",
            name="last_modified_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(roles_from_firm_roles, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="mattermember",
            constraint=models.UniqueConstraint(
                condition=models.Q(("role", "RESPONSIBLE_PARTNER")),
                fields=("matter",),
                name="one_responsible_partner",
            ),
        ),
        migrations.AddField(
            model_name="matter",
            name="closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="matter",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="matter",
            name="last_modified_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="matter",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AlterField(
            model_name="matter",
            name="is_restricted",
            field=models.BooleanField(
                default=False,
                help_text="Ethical wall: only the matter's team may see this matter.",
            ),
        ),
        migrations.AddField(
            model_name="membership",
            name="last_modified_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="membership",
            name="role",
            field=models.CharField(
                choices=[
                    ("PARTNER", "Partner"),
                    ("ASSOCIATE", "Associate"),
                    ("PARALEGAL", "Paralegal"),
                    ("FIRM_ADMIN", "Firm admin"),
                    ("COMPLIANCE", "Compliance officer"),
                ],
                default="ASSOCIATE",
                max_length=20,
            ),
        ),
    ]
