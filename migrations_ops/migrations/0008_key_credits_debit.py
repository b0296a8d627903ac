"""Idempotency keys of key_credits_debit, for keys whose debit wrote only the keys table."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('migrations_ops', '0007_key_credits_setting'),
    ]

    operations = [
        migrations.CreateModel(
            name='KeyCreditsDebit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key_id', models.CharField(max_length=256)),
                ('idempotency_key', models.CharField(max_length=255)),
                ('request_hash', models.CharField(max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('key_id', 'idempotency_key'), name='migrations_ops_keycreditsdebit_once')],
            },
        ),
    ]
