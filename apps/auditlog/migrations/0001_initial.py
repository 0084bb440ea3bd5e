import django.core.serializers.json
import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models

# Frozen copies of apps/auditlog/chain.py's SQL, as every migration keeps its own.
FUNCTIONS = """
CREATE FUNCTION audit_log_row_hash(prev_hash text, chain_position bigint, created_at timestamptz,
        actor_id integer, actor_label text, action text, object_type text, object_id text, object_repr text, summary text,
        details jsonb) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(chr(30), prev_hash, chain_position::text,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(actor_id::text, ''),
        actor_label, action, object_type, object_id, object_repr, summary, coalesce(details::text, 'null')),
        'UTF8')), 'hex')
$$;

CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE previous audit_log%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(7245081);
    SELECT * INTO previous FROM audit_log ORDER BY chain_position DESC LIMIT 1;
    NEW.chain_position := coalesce(previous.chain_position, 0) + 1;
    NEW.prev_hash := coalesce(previous.hash, '');
    NEW.hash := audit_log_row_hash(NEW.prev_hash, NEW.chain_position, NEW.created_at, NEW.actor_id,
        NEW.actor_label, NEW.action, NEW.object_type, NEW.object_id, NEW.object_repr, NEW.summary, NEW.details);
    RETURN NEW;
END $$;

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
"""
FUNCTIONS_DROP = """
DROP TRIGGER audit_log_append_only ON audit_log;
DROP TRIGGER audit_log_chain ON audit_log;
DROP FUNCTION audit_log_refuse_change();
DROP FUNCTION audit_log_chain();
DROP FUNCTION audit_log_row_hash(text, bigint, timestamptz, integer, text, text, text, text, text, text, jsonb);
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="AuditLog",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ("actor_label", models.CharField(db_default="system", help_text="Username, or who else.",
                                                 max_length=150, verbose_name="by")),
                ("action", models.CharField(max_length=64)),
                ("object_type", models.CharField(help_text="app_label.model of the object the action was on.",
                                                 max_length=64)),
                ("object_id", models.CharField(db_default="", max_length=64)),
                ("object_repr", models.CharField(db_default="", max_length=200, verbose_name="object")),
                ("summary", models.TextField(db_default="")),
                ("details", models.JSONField(blank=True, encoder=django.core.serializers.json.DjangoJSONEncoder,
                                             null=True)),
                ("chain_position", models.BigIntegerField(db_default=0, editable=False, unique=True,
                                                    help_text="Place in the hash chain (set by the database).")),
                ("prev_hash", models.CharField(db_default="", editable=False, max_length=64)),
                ("hash", models.CharField(db_default="", editable=False, max_length=64)),
                ("actor", models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                            to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "verbose_name": "audit log entry",
                "verbose_name_plural": "audit log",
                "db_table": "audit_log",
                "ordering": ["-id"],
                "indexes": [
                    models.Index(fields=["actor", "-id"], name="audit_actor_id_idx"),
                    models.Index(fields=["action", "-id"], name="audit_action_id_idx"),
                    models.Index(fields=["object_type", "object_id", "-id"], name="audit_object_id_idx"),
                    models.Index(fields=["object_type", "-id"], name="audit_object_type_id_idx"),
                    models.Index(fields=["created_at"], name="audit_created_idx"),
                ],
            },
        ),
        migrations.RunSQL(FUNCTIONS, FUNCTIONS_DROP),
    ]
