from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "apps.safety"
    verbose_name = "Safety and review"

    def ready(self):
        from apps.execution.services import execution_hold_register, task_risk_scorer_register

        from .audits import audit_holds
        from .scoring import tasks_risk_assess

        task_risk_scorer_register(tasks_risk_assess)
        execution_hold_register(audit_holds)
