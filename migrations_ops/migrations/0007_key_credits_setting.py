"""The key-credits phase becomes one stored row (it was an environment variable that a
process could lack), starting at ``legacy``; Operations may change it."""
from django.db import migrations, models

from ledger.roles import roles_sync


def phase_row_create(apps, schema_editor):
    apps.get_model("migrations_ops", "KeyCreditsSetting").objects.get_or_create(pk=1, defaults={"phase": "legacy"})


class Migration(migrations.Migration):

    dependencies = [
        ('migrations_ops', '0006_runrecord_run_index_covered'),
        ('ledger', '0005_staff_groups'),
    ]

    operations = [
        migrations.CreateModel(
            name='KeyCreditsSetting',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ('phase', models.CharField(choices=[('legacy', 'legacy: the keys table only'), ('dual', "dual: the keys table and the key's account, in one transaction"), ('credits', "credits: the key's account only")], default='legacy', max_length=8)),
                ('changed_at', models.DateTimeField(blank=True, null=True)),
                ('changed_by', models.CharField(blank=True, max_length=200)),
                ('reason', models.TextField(blank=True)),
            ],
            options={
                'verbose_name': 'key credits phase',
                'verbose_name_plural': 'key credits phase',
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='migrations_ops_keycreditssetting_one_row'), models.CheckConstraint(condition=models.Q(('phase__in', ['legacy', 'dual', 'credits'])), name='migrations_ops_keycreditssetting_phase_known')],
            },
        ),
        migrations.RunPython(phase_row_create, migrations.RunPython.noop),
        migrations.RunPython(roles_sync, migrations.RunPython.noop),
    ]
