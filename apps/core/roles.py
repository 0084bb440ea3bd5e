"""Who may do what: the one table of the role groups' permissions.

Migrations grant these (each with a frozen copy of its own step, as migrations must); a test checks that the
migrated database holds exactly this table, the role matrix test checks every admin page, action and API endpoint
against it, and README's role table is generated from it (`manage.py roles_table`). Superusers have every
permission. Staff users in no group see an empty admin.
"""

OPERATORS = "Operators"
OFFER_BUILDERS = "Offer builders"
REVIEWERS = "Reviewers"

ROLE_PURPOSES = {
    OPERATORS: "run and watch executions: create, enqueue, retry, cancel, reprioritise, pause; add AI models "
    "(endpoints: superusers); upload reports; record manual income; report concerns; triage blind spots, read alerts "
    "and edit alert rules; run model rollouts (canary, hold, promote, roll back)",
    OFFER_BUILDERS: "design offers and publish them to Stripe; run price experiments (start, promote, roll back); "
    "record manual income; report concerns",
    REVIEWERS: "work the review queue (tasks and concerns), rate task types, edit risk rules and scheduled audits, "
    "acknowledge failed audits, decide on reports, approve AI model endpoints; read history and the audit log; "
    "triage blind spots, read alerts",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    OPERATORS: frozenset({
        "execution.add_executiontask", "execution.change_executiontask", "execution.view_executiontask",
        "execution.view_executionevent", "execution.view_bulkoperation", "execution.pause_execution",
        "execution.view_executioncontrol", "execution.view_historicalexecutioncontrol",
        "execution.view_historicalexecutiontask", "execution.add_aimodel", "execution.change_aimodel",
        "execution.view_aimodel", "execution.view_tasktype",
        "proposals.add_proposal", "proposals.view_proposal",
        "offers.view_offertemplate",
        "income.add_incomeevent", "income.view_incomeevent", "income.view_historicalincomeevent",
        "income.view_reconciliationrun", "income.view_reconciliationdifference", "income.add_reconciliationrun",
        "income.view_strandedwebhook", "income.change_strandedwebhook",
        "djstripe.view_product", "djstripe.view_price", "djstripe.view_webhookeventtrigger",
        "safety.add_concern", "safety.view_concern", "safety.view_riskrule", "safety.view_riskrescore",
        "safety.view_safetyaudit", "safety.view_auditrun",
        "metrics.view_finding", "metrics.change_finding", "metrics.view_alert", "metrics.view_alertrule",
        "metrics.add_alertrule", "metrics.change_alertrule", "metrics.view_leadtime",
        "execution.view_modelrollout", "execution.add_modelrollout", "execution.decide_modelrollout",
        "execution.view_historicalmodelrollout", "experiments.view_priceexperiment",
    }),
    OFFER_BUILDERS: frozenset({
        "offers.add_offertemplate", "offers.change_offertemplate", "offers.view_offertemplate",
        "offers.publish_offertemplate", "offers.view_historicaloffertemplate",
        "execution.view_aimodel", "execution.view_tasktype",
        "income.add_incomeevent", "income.view_incomeevent", "income.view_historicalincomeevent",
        "income.view_reconciliationrun", "income.view_reconciliationdifference", "income.add_reconciliationrun",
        "djstripe.view_product", "djstripe.view_price",
        "safety.add_concern", "safety.view_concern",
        "metrics.view_alert",
        "experiments.view_priceexperiment", "experiments.add_priceexperiment", "experiments.change_priceexperiment",
        "experiments.decide_priceexperiment", "experiments.assign_priceexperiment",
        "experiments.view_historicalpriceexperiment",
    }),
    REVIEWERS: frozenset({
        "execution.review_executiontask", "execution.view_executiontask", "execution.view_executionevent",
        "execution.view_bulkoperation", "execution.view_executioncontrol", "execution.view_historicalexecutiontask",
        "execution.view_historicalexecutioncontrol", "execution.view_aimodel", "execution.view_historicalaimodel",
        "execution.approve_aimodel_endpoint", "execution.view_tasktype", "execution.view_historicaltasktype",
        "proposals.view_proposal", "proposals.review_proposal", "proposals.view_historicalproposal",
        "offers.view_offertemplate", "offers.view_historicaloffertemplate",
        "income.view_incomeevent", "income.view_historicalincomeevent",
        "income.view_reconciliationrun", "income.view_reconciliationdifference",
        "safety.add_concern", "safety.view_concern", "safety.change_concern", "safety.view_historicalconcern",
        "safety.view_riskrule", "safety.change_riskrule", "safety.view_historicalriskrule", "safety.view_riskrescore",
        "safety.add_riskrescore", "safety.view_safetyaudit", "safety.add_safetyaudit", "safety.change_safetyaudit",
        "safety.view_historicalsafetyaudit", "safety.view_auditrun", "safety.change_auditrun",
        "auditlog.view_auditlog",
        "metrics.view_finding", "metrics.change_finding", "metrics.view_alert", "metrics.view_alertrule",
        "metrics.view_leadtime",
        "execution.view_modelrollout", "execution.view_historicalmodelrollout",
        "experiments.view_priceexperiment", "experiments.view_historicalpriceexperiment",
    }),
}  # fmt: skip


def roles_markdown_table() -> str:
    """README's role table."""
    rows = ["| role | for | permissions |", "|---|---|---|"]
    for role, permissions in ROLE_PERMISSIONS.items():
        rows.append(f"| {role} | {ROLE_PURPOSES[role]} | {', '.join(f'`{name}`' for name in sorted(permissions))} |")
    return "\n".join(rows)
