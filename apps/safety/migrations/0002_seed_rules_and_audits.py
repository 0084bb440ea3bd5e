"""The risk rules and scheduled audits a new console starts with (frozen here; reviewers edit them in the admin)."""

from decimal import Decimal

from django.db import migrations

RULES = [  # kind, points, threshold, window
    ("task_type_unrated", 50, None, None),
    ("task_type_medium", 15, None, None),
    ("task_type_high", 50, None, None),
    ("model_failure_rate", 20, Decimal(30), 200),
    ("model_retry_rate", 10, Decimal(30), 200),
    ("payload_size", 10, Decimal(20000), None),
    ("payload_code", 10, None, None),
    ("payload_shell", 25, None, None),
    ("payload_sql", 20, None, None),
    ("self_programming_target", 25, None, None),
    ("money_at_stake", 15, Decimal(500), None),
    ("open_concern", 15, None, None),
]
AUDITS = [  # name, check, schedule, gate, bound
    ("Self-programming approved by another person", "self_programming_approved", "5 * * * *", "pause", None),
    ("No task running past its timeout", "running_past_timeout", "*/15 * * * *", "warn", None),
    ("Failure rate per AI model", "model_failure_rate", "10 * * * *", "warn", Decimal(50)),
    ("Income attributed or explained", "income_explained", "20 4 * * *", "warn", None),
    ("Audit chain intact", "audit_chain", "30 * * * *", "pause", None),
    ("Probe: self-approval refused", "probe_self_approval", "35 * * * *", "pause", None),
    ("Probe: direct job push refused", "probe_direct_job_push", "40 * * * *", "pause", None),
    ("Probe: forged webhook refused", "probe_forged_webhook", "45 * * * *", "pause", None),
    ("Probe: audit row change refused", "probe_audit_update", "50 * * * *", "pause", None),
]


def seed(apps, schema_editor):
    RiskRule = apps.get_model("safety", "RiskRule")
    SafetyAudit = apps.get_model("safety", "SafetyAudit")
    for kind, points, threshold, window in RULES:
        RiskRule.objects.get_or_create(kind=kind, defaults={"points": points, "threshold": threshold,
                                                            "window": window})  # fmt: skip
    for name, check, schedule, gate, bound in AUDITS:
        SafetyAudit.objects.get_or_create(name=name, defaults={"check_name": check, "schedule": schedule,
                                                               "gate": gate, "bound": bound})  # fmt: skip


def unseed(apps, schema_editor):
    apps.get_model("safety", "RiskRule").objects.filter(kind__in=[rule[0] for rule in RULES]).delete()
    apps.get_model("safety", "SafetyAudit").objects.filter(name__in=[audit[0] for audit in AUDITS],
                                                           runs__isnull=True).delete()  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
