"""Offer builders design and publish offers in the admin; operators only look."""

import pytest
from django.urls import reverse

from apps.offers.models import OfferTemplate
from tests.browser import BROWSER_MARKS, SCREENSHOTS, login

State = OfferTemplate.SyncState


def change_url(offer) -> str:
    return reverse("admin:offers_offertemplate_change", args=[offer.pk])


def form_data(offer, **changes) -> dict:
    data = {
        "name": offer.name, "slug": offer.slug, "description": offer.description, "price": str(offer.price),
        "currency": offer.currency, "billing": offer.billing, "is_active": "on", "task_type": offer.task_type_id,
        "ai_model": offer.ai_model_id,
    }  # fmt: skip
    return {**data, **changes}


@pytest.mark.django_db
def test_the_offer_list_shows_prices_in_the_currencys_decimals(client, offer_builder, offer):
    OfferTemplate.objects.filter(pk=offer.pk).update(price="49.500", billing="month")
    client.force_login(offer_builder)
    page = client.get(reverse("admin:offers_offertemplate_changelist")).content.decode()
    assert "49.50 USD / monthly" in page and "49.500" not in page


@pytest.mark.django_db
def test_operator_can_view_but_not_edit_or_publish(client, operator, offer, fake_stripe):
    client.force_login(operator)
    assert client.get(change_url(offer)).status_code == 200
    assert client.post(change_url(offer), form_data(offer, price="1.00")).status_code == 403
    publish_url = reverse("admin:offers_offertemplate_publish", args=[offer.pk])
    assert client.post(publish_url).status_code == 403
    changelist = client.get(reverse("admin:offers_offertemplate_changelist"))
    assert changelist.context["action_form"] is None  # no bulk action at all for operators
    offer.refresh_from_db()
    assert (offer.price, offer.sync_state) == (49, State.DRAFT) and not fake_stripe.requests


@pytest.mark.django_db
def test_offer_builder_edits_a_new_version_and_bad_prices_are_refused(client, offer_builder, offer):
    client.force_login(offer_builder)
    refused = client.post(change_url(offer), form_data(offer, price="0.10"))
    assert "minimum charge in USD is 0.50" in refused.content.decode()
    client.post(change_url(offer), form_data(offer, price="59.00"))
    offer.refresh_from_db()
    assert (offer.price, offer.version) == (59, 2)
    assert offer.history.first().history_user == offer_builder


@pytest.mark.django_db
def test_publish_without_a_stripe_key_explains_what_to_set(client, offer_builder, offer, settings):
    settings.STRIPE_TEST_SECRET_KEY = ""
    client.force_login(offer_builder)
    page = client.post(reverse("admin:offers_offertemplate_publish", args=[offer.pk]), follow=True)
    assert "Stripe is not configured: set STRIPE_TEST_SECRET_KEY" in page.content.decode()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_offer_builder_publishes_and_a_real_worker_does_the_stripe_calls(
    client, offer_builder, offer, fake_stripe, run_workers
):
    client.force_login(offer_builder)
    publish_url = reverse("admin:offers_offertemplate_publish", args=[offer.pk])
    assert "Publish" in client.get(publish_url).content.decode()
    client.post(publish_url)
    offer.refresh_from_db()
    assert offer.sync_state == State.PUBLISHING and not fake_stripe.requests  # the request did not wait on Stripe

    run_workers(STRIPE_API_BASE=fake_stripe.base_url, STRIPE_TEST_SECRET_KEY=settings_key(),
                OFFERS_STRIPE_RETRY_SECONDS="0")  # fmt: skip
    offer.refresh_from_db()
    assert offer.sync_state == State.PUBLISHED
    assert len(fake_stripe.of_type("product")) == 1 and len(fake_stripe.of_type("price")) == 1
    page = client.get(change_url(offer)).content.decode()
    assert reverse("admin:djstripe_product_change", args=[offer.stripe_product_id]) in page
    assert fake_stripe.of_type("product")[0]["id"] in page


def settings_key() -> str:
    from tests.fakes.stripe_api import SECRET_KEY

    return SECRET_KEY


@pytest.mark.usefixtures("offer")
class TestOfferPageInTheBrowser:
    pytestmark = BROWSER_MARKS

    def test_offer_page_shows_the_live_preview_and_publish_button(self, live_server, offer_builder, browser_page):
        from playwright.sync_api import expect

        page = browser_page
        login(page, live_server.url, offer_builder)
        page.goto(f"{live_server.url}/admin/offers/offertemplate/")
        page.get_by_role("link", name="AI-Powered Code Review").click()
        expect(page.locator("#offer-preview-name")).to_have_text("AI-Powered Code Review")
        expect(page.locator("#offer-preview-price")).to_contain_text("49.00")
        page.fill("#id_name", "AI Code Review, same day")
        page.fill("#id_price", "59")
        page.select_option("#id_billing", "month")
        expect(page.locator("#offer-preview-name")).to_have_text("AI Code Review, same day")
        expect(page.locator("#offer-preview-billing")).to_have_text("per month")
        expect(page.locator("#offer-preview-price")).to_contain_text("59.00")
        page.select_option("#id_currency", "jpy")
        page.fill("#id_price", "49.5")  # the preview says what saving would say, instead of showing ¥50
        expect(page.locator("#offer-preview-price")).to_contain_text("JPY prices have at most 0 decimal place(s)")
        page.fill("#id_price", "5000")
        expect(page.locator("#offer-preview-price")).to_contain_text("5,000")
        page.select_option("#id_currency", "usd")
        page.fill("#id_price", "59")
        expect(page.get_by_role("link", name="Publish to Stripe")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "offer-page-preview.png", full_page=True)
