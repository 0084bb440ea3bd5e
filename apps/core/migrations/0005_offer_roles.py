from django.db import migrations

from apps.core.role_grants import grants_operation

GRANTS = {
    "Offer builders": ["add_offertemplate", "change_offertemplate", "view_offertemplate", "publish_offertemplate",
                       "view_historicaloffertemplate"],
    "Operators": ["view_offertemplate"],
    "Reviewers": ["view_offertemplate", "view_historicaloffertemplate"],
}
DJSTRIPE_GRANTS = {"Offer builders": ["view_product", "view_price"], "Operators": ["view_product", "view_price"]}


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_proposal_roles"),
        ("offers", "0001_initial"),
        ("djstripe", "__latest__"),
    ]

    operations = [grants_operation("offers", GRANTS), grants_operation("djstripe", DJSTRIPE_GRANTS)]
