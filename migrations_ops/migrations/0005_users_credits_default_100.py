"""New users get 100 credits (was 10): the users.credits column default, changed in the database (credit system update guide)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('migrations_ops', '0004_legacy_users'),
    ]

    operations = [
        migrations.AlterField(
            model_name='legacyuser',
            name='credits',
            field=models.IntegerField(db_default=100),
        ),
    ]
