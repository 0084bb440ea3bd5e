"""Issue 16: every money-moving Stripe event, fees and net from balance transactions, attribution source,
stranded deliveries and reconciliation. Cheap steps only (new columns have constant defaults, new tables are
empty); what scans `income_events` is in 0007, built without blocking writes."""

import django.db.models.deletion
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models

class Migration(migrations.Migration):

    dependencies = [
        ('djstripe', '0003_2_11'),
        ('execution', '0008_list_indexes'),
        ('income', '0005_list_indexes'),
        ('offers', '0002_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='IncomeSettlementDailyRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('settlement_currency', models.CharField(max_length=3)),
                ('ai_model', models.CharField(max_length=200, null=True)),
                ('gross', models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=20)),
                ('fee', models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=20)),
                ('net', models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=20)),
                ('events', models.IntegerField(default=0)),
            ],
            options={
                'db_table': 'income_settlement_daily',
            },
        ),
        migrations.CreateModel(
            name='ReconciliationDifference',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('missing_in_ledger', 'in Stripe, not in the ledger'), ('missing_in_stripe', 'in the ledger, not in Stripe'), ('amount', 'amount differs'), ('fee', 'fee differs')], max_length=20)),
                ('balance_transaction_id', models.CharField(blank=True, max_length=255, verbose_name='balance transaction')),
                ('source_id', models.CharField(blank=True, help_text='Charge, refund or dispute.', max_length=255, verbose_name='Stripe source')),
                ('currency', models.CharField(blank=True, help_text='Settlement currency.', max_length=3)),
                ('stripe_value', models.DecimalField(blank=True, decimal_places=3, max_digits=16, null=True)),
                ('ledger_value', models.DecimalField(blank=True, decimal_places=3, max_digits=16, null=True)),
                ('detail', models.CharField(blank=True, max_length=255)),
            ],
            options={
                'db_table': 'income_reconciliation_differences',
                'ordering': ['run', 'kind', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ReconciliationRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('started_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('outcome', models.CharField(choices=[('running', 'Running'), ('matched', 'Matched'), ('differences', 'Differences'), ('failed', 'could not run')], default='running', max_length=16)),
                ('stripe_transactions', models.PositiveIntegerField(default=0)),
                ('ledger_rows', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
            ],
            options={
                'db_table': 'income_reconciliation_runs',
                'ordering': ['-day', '-started_at'],
            },
        ),
        migrations.CreateModel(
            name='StrandedWebhook',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('stripe_event_id', models.CharField(blank=True, max_length=255, verbose_name='Stripe event')),
                ('event_type', models.CharField(blank=True, max_length=100)),
                ('attempts', models.PositiveIntegerField(default=0, help_text="Scheduler retries so far (after RQ's own).")),
                ('next_attempt_at', models.DateTimeField()),
                ('last_error', models.TextField(blank=True)),
                ('stranded_at', models.DateTimeField(auto_now_add=True)),
                ('recorded_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'income_stranded_webhooks',
                'ordering': ['-stranded_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='StripeObservation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('stripe_event_id', models.CharField(max_length=255)),
                ('kind', models.CharField(choices=[('refunded_total', 'charge refunded total'), ('refund', 'Refund'), ('invoice', 'Invoice')], max_length=16)),
                ('object_id', models.CharField(help_text='The charge (refunds) or PaymentIntent (invoices).', max_length=255)),
                ('item_id', models.CharField(blank=True, help_text='The refund, for refund observations.', max_length=255)),
                ('observed_at', models.DateTimeField(help_text='When Stripe created the event.')),
                ('data', models.JSONField(default=dict)),
            ],
            options={
                'db_table': 'income_stripe_observations',
            },
        ),
        migrations.RemoveConstraint(
            model_name='incomeevent',
            name='income_kind_valid',
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='attribution_source',
            field=models.CharField(blank=True, choices=[('', 'not attributed'), ('metadata', 'Metadata'), ('invoice_line', 'invoice line'), ('price', 'Price'), ('payment', 'its payment'), ('manual', 'Manual')], db_default='', max_length=16),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='balance_transaction_id',
            field=models.CharField(blank=True, db_default='', max_length=255, verbose_name='balance transaction'),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='charge_id',
            field=models.CharField(blank=True, db_default='', max_length=255, verbose_name='Charge'),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='exchange_rate',
            field=models.DecimalField(blank=True, decimal_places=12, help_text="Settlement currency per unit of the customer's currency; empty when they are the same.", max_digits=24, null=True),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='fee',
            field=models.DecimalField(blank=True, decimal_places=3, help_text="Stripe's fees in the settlement currency (negative when a fee is returned).", max_digits=16, null=True),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='net',
            field=models.DecimalField(blank=True, decimal_places=3, help_text='Gross settled minus fees, in the settlement currency.', max_digits=16, null=True),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='settlement_amount',
            field=models.DecimalField(blank=True, decimal_places=3, max_digits=16, null=True, verbose_name='gross settled'),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='settlement_currency',
            field=models.CharField(blank=True, db_default='', help_text='Empty until the fee is known.', max_length=3),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='settlement_note',
            field=models.CharField(blank=True, db_default='', help_text="Why fee and net are not known yet ('none:' when no balance transaction exists, e.g. paid out of band).", max_length=255),
        ),
        migrations.AddField(
            model_name='historicalincomeevent',
            name='unattributed_reason',
            field=models.CharField(blank=True, db_default='', help_text='Why no model or task type.', max_length=255),
        ),
        migrations.AddField(
            model_name='incomedailyrollup',
            name='fee_unknown',
            field=models.IntegerField(default=0, help_text='Stripe rows whose fee is not read yet.'),
        ),
        migrations.AddField(
            model_name='incomedailyrollup',
            name='net',
            field=models.DecimalField(decimal_places=9, default=Decimal('0'), help_text="Amount less Stripe's fees converted back to this currency (the amount while a fee is unknown).", max_digits=24),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='attribution_source',
            field=models.CharField(blank=True, choices=[('', 'not attributed'), ('metadata', 'Metadata'), ('invoice_line', 'invoice line'), ('price', 'Price'), ('payment', 'its payment'), ('manual', 'Manual')], db_default='', max_length=16),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='balance_transaction_id',
            field=models.CharField(blank=True, db_default='', max_length=255, verbose_name='balance transaction'),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='charge_id',
            field=models.CharField(blank=True, db_default='', max_length=255, verbose_name='Charge'),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='exchange_rate',
            field=models.DecimalField(blank=True, decimal_places=12, help_text="Settlement currency per unit of the customer's currency; empty when they are the same.", max_digits=24, null=True),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='fee',
            field=models.DecimalField(blank=True, decimal_places=3, help_text="Stripe's fees in the settlement currency (negative when a fee is returned).", max_digits=16, null=True),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='net',
            field=models.DecimalField(blank=True, decimal_places=3, help_text='Gross settled minus fees, in the settlement currency.', max_digits=16, null=True),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='settlement_amount',
            field=models.DecimalField(blank=True, decimal_places=3, max_digits=16, null=True, verbose_name='gross settled'),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='settlement_currency',
            field=models.CharField(blank=True, db_default='', help_text='Empty until the fee is known.', max_length=3),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='settlement_note',
            field=models.CharField(blank=True, db_default='', help_text="Why fee and net are not known yet ('none:' when no balance transaction exists, e.g. paid out of band).", max_length=255),
        ),
        migrations.AddField(
            model_name='incomeevent',
            name='unattributed_reason',
            field=models.CharField(blank=True, db_default='', help_text='Why no model or task type.', max_length=255),
        ),
        migrations.AlterField(
            model_name='historicalincomeevent',
            name='kind',
            field=models.CharField(choices=[('payment', 'Payment'), ('refund', 'Refund'), ('refund_failure', 'refund reversed'), ('dispute', 'Dispute'), ('manual', 'Manual')], max_length=16),
        ),
        migrations.AlterField(
            model_name='historicalincomeevent',
            name='stripe_event_id',
            field=models.CharField(blank=True, help_text='The delivery that made this row (a dispute event can make two: withdrawal and reinstatement).', max_length=255, null=True, verbose_name='Stripe event'),
        ),
        migrations.AlterField(
            model_name='historicalincomeevent',
            name='stripe_object_id',
            field=models.CharField(blank=True, help_text='The PaymentIntent of a payment (the invoice if paid out of band), the Charge of a refund, the Dispute of a dispute movement.', max_length=255, verbose_name='Stripe object'),
        ),
        migrations.AlterField(
            model_name='incomeevent',
            name='kind',
            field=models.CharField(choices=[('payment', 'Payment'), ('refund', 'Refund'), ('refund_failure', 'refund reversed'), ('dispute', 'Dispute'), ('manual', 'Manual')], max_length=16),
        ),
        migrations.AlterField(
            model_name='incomeevent',
            name='stripe_event_id',
            field=models.CharField(blank=True, help_text='The delivery that made this row (a dispute event can make two: withdrawal and reinstatement).', max_length=255, null=True, verbose_name='Stripe event'),
        ),
        migrations.AlterField(
            model_name='incomeevent',
            name='stripe_object_id',
            field=models.CharField(blank=True, help_text='The PaymentIntent of a payment (the invoice if paid out of band), the Charge of a refund, the Dispute of a dispute movement.', max_length=255, verbose_name='Stripe object'),
        ),
        migrations.AddField(
            model_name='incomesettlementdailyrollup',
            name='task_type',
            field=models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='execution.tasktype'),
        ),
        migrations.AddField(
            model_name='reconciliationdifference',
            name='ledger_row',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='income.incomeevent'),
        ),
        migrations.AddIndex(
            model_name='reconciliationrun',
            index=models.Index(fields=['-day', '-started_at'], name='income_reconciliation_day_idx'),
        ),
        migrations.AddField(
            model_name='reconciliationdifference',
            name='run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='differences', to='income.reconciliationrun'),
        ),
        migrations.AddField(
            model_name='strandedwebhook',
            name='trigger',
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='djstripe.webhookeventtrigger'),
        ),
        migrations.AddIndex(
            model_name='stripeobservation',
            index=models.Index(fields=['object_id', 'kind'], name='income_observation_object_idx'),
        ),
        migrations.AddConstraint(
            model_name='stripeobservation',
            constraint=models.UniqueConstraint(fields=('stripe_event_id', 'kind', 'object_id', 'item_id'), name='income_observation_once'),
        ),
        migrations.AddConstraint(
            model_name='incomesettlementdailyrollup',
            constraint=models.UniqueConstraint(fields=('day', 'settlement_currency', 'ai_model', 'task_type'), name='income_settlement_daily_key', nulls_distinct=False),
        ),
        migrations.AddIndex(
            model_name='strandedwebhook',
            index=models.Index(condition=models.Q(('recorded_at', None)), fields=['next_attempt_at'], name='income_stranded_due_idx'),
        ),
    ]
