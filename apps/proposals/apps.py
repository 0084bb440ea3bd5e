from django.apps import AppConfig


class ProposalsConfig(AppConfig):
    name = "apps.proposals"
    verbose_name = "Proposal reports (FSAR)"

    def ready(self):
        from apps.execution.services import execution_hold_register

        from .services import blocking_proposals_hold

        execution_hold_register(blocking_proposals_hold)
