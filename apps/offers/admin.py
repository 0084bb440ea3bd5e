from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.core.admin_site import HistoryAdmin, form_page
from apps.core.money import amount_display, currency_rules

from .models import OfferTemplate
from .services import offer_publish_request, offer_save, stripe_setup_problem

SYNC_COLOURS = {
    OfferTemplate.SyncState.DRAFT.label: "default",
    OfferTemplate.SyncState.PUBLISHING.label: "info",
    OfferTemplate.SyncState.PUBLISHED.label: "success",
    OfferTemplate.SyncState.FAILED.label: "danger",
}
PUBLISH_PERMISSION = "offers.publish_offertemplate"


@admin.register(OfferTemplate)
class OfferTemplateAdmin(HistoryAdmin, ModelAdmin):
    list_display = ("name", "price_display", "task_type", "ai_model", "is_active", "sync_label", "synced_at")
    list_filter = ("sync_state", "is_active", "billing", "currency", "task_type")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        ("What customers see", {"fields": ("name", "description", ("price", "currency", "billing"), "is_active")}),
        ("How it is delivered", {"fields": ("task_type", "ai_model")}),
        ("Stripe", {"fields": ("sync_label", "sync_error_display", "synced_at", "versions", "stripe_links")}),
        ("Internal", {"fields": ("slug",), "classes": ["collapse"]}),
    )
    readonly_fields = ("sync_label", "sync_error_display", "synced_at", "versions", "stripe_links")
    change_form_before_template = "admin/offers/offertemplate/preview.html"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "currency_rules": currency_rules()}  # the preview checks prices
        return super().changeform_view(request, object_id, form_url, extra_context)

    actions = ("publish_selected",)
    actions_detail = ("publish",)

    @display(description="price", ordering="price")
    def price_display(self, offer):
        billing = "" if offer.billing == OfferTemplate.Billing.ONE_TIME else f" / {offer.get_billing_display()}"
        return f"{amount_display(offer.price, offer.currency)}{billing}"

    @display(description="Stripe sync", ordering="sync_state", label=SYNC_COLOURS)
    def sync_label(self, offer):
        return offer.get_sync_state_display()

    @display(description="last error from Stripe")
    def sync_error_display(self, offer):
        return (
            format_html('<span class="text-red-700 font-medium">{}</span>', offer.sync_error)
            if offer.sync_error
            else "-"
        )

    @display(description="version")
    def versions(self, offer):
        if offer.published_version is None:
            return f"{offer.version} (never published)"
        if offer.published_version == offer.version:
            return f"{offer.version} (published)"
        return f"{offer.version} (Stripe shows version {offer.published_version}: publish to update it)"

    @display(description="Stripe product and price")
    def stripe_links(self, offer):
        if offer.stripe_product_id is None:
            return "-"
        price = offer.stripe_price
        return format_html(
            '<a class="text-primary-600 underline" href="{}">{}</a> · '
            '<a class="text-primary-600 underline" href="{}">{}</a>',
            reverse("admin:djstripe_product_change", args=[offer.stripe_product_id]), offer.stripe_product.id,
            reverse("admin:djstripe_price_change", args=[offer.stripe_price_id]), price.id if price else "-",
        )  # fmt: skip

    def has_publish_permission(self, request, obj=None):
        return request.user.has_perm(PUBLISH_PERMISSION)

    def save_model(self, request, obj, form, change):
        offer_save(offer=obj, changed_fields=form.changed_data if change else [], actor=request.user)

    @admin.action(description="Publish selected offers to Stripe", permissions=["publish"])
    def publish_selected(self, request, queryset):
        for offer in queryset:
            self._publish(request, offer)

    @action(description="Publish to Stripe", icon="cloud_upload", url_path="publish", permissions=["publish"])
    def publish(self, request, object_id):
        offer = get_object_or_404(OfferTemplate, pk=object_id)
        url = reverse("admin:offers_offertemplate_change", args=[offer.pk])
        if request.method == "POST":
            self._publish(request, offer)
            return HttpResponseRedirect(url)
        summary = stripe_setup_problem() or (
            f"Version {offer.version}: {self.price_display(offer)}. The Stripe calls run in the background; "
            "the offer shows 'publishing' until they are done."
        )
        return form_page(self, request, title=f"Publish “{offer}” to Stripe?", summary=summary, form=forms.Form(),
                         submit_label="Publish", back_url=url)  # fmt: skip

    def _publish(self, request, offer):
        try:
            offer_publish_request(offer=offer, actor=request.user)
        except ValidationError as refusal:
            self.message_user(request, f"{offer}: {' '.join(refusal.messages)}", messages.ERROR)
        else:
            self.message_user(request, f"{offer}: publishing to Stripe in the background.")
