"""Assignment: shares that match the weights, the same variant for the same subject every time, experiments that
split independently, an exposure recorded once through the API, and the sample-ratio check that catches a skew."""

from collections import Counter

import pytest
from scipy.stats import chi2_contingency

from apps.core.assignment import BUCKETS, arm_of, bucket_of
from apps.experiments.models import Exposure, PriceExperiment, Variant
from apps.experiments.pricing import variant_of
from apps.experiments.results import price_experiment_results
from apps.experiments.stats import sample_ratio_check
from tests.conftest import token_client

from .conftest import assign, assign_url

SUBJECTS = [f"cus_{number:07d}" for number in range(100_000)]


def unsaved(salt: str, weights: list[int]) -> tuple[PriceExperiment, list[Variant]]:
    """`variant_of` is pure: an experiment and variants that were never saved are enough."""
    variants = [Variant(key=chr(ord("A") + index), weight=weight) for index, weight in enumerate(weights)]
    return PriceExperiment(key=f"exp-{salt}", salt=salt), variants


@pytest.mark.parametrize("weights", [[50, 50], [20, 30, 50]])
def test_each_variant_gets_its_weight_share_of_100_000_subjects(weights):
    experiment, variants = unsaved("3f9a1c0de4b27781", weights)
    shares = Counter(variant_of(experiment=experiment, subject=s, variants=variants).key for s in SUBJECTS)
    for variant in variants:
        wanted = variant.weight / sum(weights)
        assert shares[variant.key] / len(SUBJECTS) == pytest.approx(wanted, abs=0.01), (variant.key, shares)


@pytest.mark.parametrize("weights", [[50, 50], [20, 30, 50]])
def test_buckets_are_uniform_and_arms_follow_the_weights(weights):
    buckets = [bucket_of(salt="a7c0ffee00d15ea5", subject=subject) for subject in SUBJECTS]
    assert 0 <= min(buckets) and max(buckets) < BUCKETS
    deciles = Counter(bucket * 10 // BUCKETS for bucket in buckets)
    assert all(count / len(SUBJECTS) == pytest.approx(0.1, abs=0.01) for count in deciles.values()), deciles
    arms = Counter(arm_of(bucket=bucket, weights=weights) for bucket in buckets)
    assert sorted(arms) == list(range(len(weights)))
    for index, weight in enumerate(weights):
        assert arms[index] / len(SUBJECTS) == pytest.approx(weight / sum(weights), abs=0.01), arms


def test_arm_boundaries_split_the_buckets_exactly_by_weight():
    assert [arm_of(bucket=bucket, weights=[20, 30, 50]) for bucket in (0, 1999, 2000, 4999, 5000, BUCKETS - 1)] == [
        0, 0, 1, 1, 2, 2,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="positive"):
        arm_of(bucket=0, weights=[0, 0])


def test_the_same_subject_always_gets_the_same_variant():
    experiment, variants = unsaved("0123456789abcdef", [20, 30, 50])
    first = [variant_of(experiment=experiment, subject=s, variants=variants).key for s in SUBJECTS[:5000]]
    again_experiment, again_variants = unsaved("0123456789abcdef", [20, 30, 50])  # e.g. another web process
    again = [variant_of(experiment=again_experiment, subject=s, variants=again_variants).key for s in SUBJECTS[:5000]]
    assert first == again
    assert len(set(first)) == 3


def test_two_experiments_split_the_same_subjects_independently():
    one, one_variants = unsaved("1111111111111111", [50, 50])
    other, other_variants = unsaved("2222222222222222", [50, 50])
    pairs = Counter(
        (variant_of(experiment=one, subject=s, variants=one_variants).key,
         variant_of(experiment=other, subject=s, variants=other_variants).key)
        for s in SUBJECTS
    )  # fmt: skip
    # Each of A/A, A/B, B/A, B/B holds a quarter: being in B of one says nothing about the other.
    assert all(count / len(SUBJECTS) == pytest.approx(0.25, abs=0.01) for count in pairs.values()), pairs
    table = [[pairs["A", "A"], pairs["A", "B"]], [pairs["B", "A"], pairs["B", "B"]]]
    assert chi2_contingency(table).pvalue > 0.001


def test_sample_ratio_check_flags_a_skewed_log_and_not_a_fair_one():
    skewed = sample_ratio_check(observed=[5300, 4700], weights=[50, 50])
    assert skewed.mismatch and skewed.p_value < 1e-6
    assert skewed.expected == [5000, 5000]
    assert not sample_ratio_check(observed=[5040, 4960], weights=[50, 50]).mismatch
    assert not sample_ratio_check(observed=[2010, 2985, 5005], weights=[20, 30, 50]).mismatch
    assert sample_ratio_check(observed=[2000, 2000, 6000], weights=[20, 30, 50]).mismatch
    assert sample_ratio_check(observed=[0, 0], weights=[50, 50]) is None


def test_results_say_stop_on_a_sample_ratio_mismatch(experiment):
    a, b = experiment.variants.order_by("key")
    Exposure.objects.bulk_create(
        [Exposure(experiment=experiment, variant=a, subject=f"a-{n}") for n in range(5300)]
        + [Exposure(experiment=experiment, variant=b, subject=f"b-{n}") for n in range(4700)]
    )
    results = price_experiment_results(experiment=experiment)
    assert [row.exposures for row in results.variants] == [5300, 4700]
    assert results.sample_ratio.mismatch
    assert results.tone == "stop" and results.winner is None
    assert results.verdict.startswith("stop: sample ratio mismatch (exposures [5300, 4700] do not fit the weights")


def test_results_of_a_fair_log_do_not_stop(experiment):
    a, b = experiment.variants.order_by("key")
    Exposure.objects.bulk_create(
        [Exposure(experiment=experiment, variant=a, subject=f"a-{n}") for n in range(5030)]
        + [Exposure(experiment=experiment, variant=b, subject=f"b-{n}") for n in range(4970)]
    )
    results = price_experiment_results(experiment=experiment)
    assert not results.sample_ratio.mismatch and results.tone != "stop"


# Through the API -----------------------------------------------------------------------------------------


def test_the_same_subject_gets_the_same_variant_and_checkout_and_one_exposure(experiment, storefront, fake_stripe):
    first = assign(storefront, experiment.key, "cus_Returning0001")
    again = assign(storefront, experiment.key, "cus_Returning0001")

    assert first["new_exposure"] is True and again["new_exposure"] is False
    for field in ("variant", "price", "stripe_price_id", "checkout_url", "checkout_session_id"):
        assert again[field] == first[field], field
    [exposure] = Exposure.objects.filter(experiment=experiment)
    assert (exposure.subject, exposure.variant.key) == ("cus_Returning0001", first["variant"])
    assert exposure.checkout_session_id == first["checkout_session_id"]
    sessions = [r for r in fake_stripe.posts() if r["path"] == "/v1/checkout/sessions"]
    assert len(sessions) == 1  # the open checkout is handed out again, not made again
    variant = experiment.variants.get(key=first["variant"])
    assert first["stripe_price_id"] == variant.stripe_price_id
    assert sessions[0]["params"]["line_items"] == [{"price": variant.stripe_price_id, "quantity": "1"}]


def test_the_api_assigns_as_the_pure_function_does(experiment, storefront):
    variants = list(experiment.variants.order_by("-is_control", "key"))
    for subject in [f"sess-{n}" for n in range(12)]:
        expected = variant_of(experiment=experiment, subject=subject, variants=variants)
        answer = assign(storefront, experiment.key, subject)
        assert answer["variant"] == expected.key
        assert (answer["stripe_price_id"], answer["price"]) == (expected.stripe_price_id, f"{expected.price:.3f}")
    assert Exposure.objects.filter(experiment=experiment).count() == 12


BAD_SUBJECTS = [({}, "required"), ({"subject": ""}, "required"), ({"subject": "   "}, "required"),
                ({"subject": None}, "null"), ({"subject": 12345}, "string"), ({"subject": ["cus_1"]}, "string"),
                ({"subject": {"id": "cus_1"}}, "string"), ({"subject": "x" * 201}, "at most 200")]  # fmt: skip


def test_bad_subjects_are_refused_with_400_naming_subject(experiment, storefront):
    for body, words in BAD_SUBJECTS:
        response = storefront.post(assign_url(experiment.key), body, format="json")
        assert response.status_code == 400, body
        assert list(response.json()) == ["subject"], body
        assert words in " ".join(response.json()["subject"]), (body, response.json())
    assert not Exposure.objects.exists()
    assert assign(storefront, experiment.key, "x" * 200)["new_exposure"] is True  # the longest allowed


def test_a_body_that_is_not_an_object_is_refused(experiment, storefront):
    response = storefront.post(assign_url(experiment.key), ["cus_1"], format="json")
    assert response.status_code == 400 and "JSON object" in str(response.json())


def test_unknown_experiment_is_404(experiment, storefront):
    response = storefront.post(assign_url("no-such-test"), {"subject": "cus_1"}, format="json")
    assert response.status_code == 404 and "no-such-test" in response.json()["detail"]


def test_an_experiment_not_started_is_409_and_records_nothing(create_experiment, storefront, fake_stripe):
    draft = create_experiment(start=False)
    response = storefront.post(assign_url(draft.key), {"subject": "cus_1"}, format="json")
    assert response.status_code == 409 and "has not started" in response.json()["detail"]
    assert not Exposure.objects.exists()
    assert not [r for r in fake_stripe.posts() if r["path"] == "/v1/checkout/sessions"]


def test_a_token_without_the_assign_permission_is_403(experiment, reviewer):
    response = token_client(reviewer).post(assign_url(experiment.key), {"subject": "cus_1"}, format="json")
    assert response.status_code == 403 and "assign_priceexperiment" in response.json()["detail"]
    assert not Exposure.objects.exists()


def test_stripe_refusing_the_checkout_is_502(experiment, storefront, fake_stripe):
    fake_stripe.fail_next("POST", "/v1/checkout/sessions", "invalid", "Your account cannot accept payments.")
    response = storefront.post(assign_url(experiment.key), {"subject": "cus_1"}, format="json")
    assert response.status_code == 502 and "Your account cannot accept payments." in response.json()["detail"]
    assert not Exposure.objects.exists()  # the subject saw no price: nothing counts against a variant yet
    again = storefront.post(assign_url(experiment.key), {"subject": "cus_1"}, format="json")
    assert again.status_code == 200 and again.json()["new_exposure"] is True
    exposure = Exposure.objects.get()
    assert (exposure.subject, exposure.checkout_session_id) == ("cus_1", again.json()["checkout_session_id"])


@pytest.mark.django_db
def test_without_checkout_pages_configured_the_api_says_what_to_set_and_records_nothing(experiment, storefront,
                                                                                         settings):  # fmt: skip
    settings.EXPERIMENTS_CHECKOUT_SUCCESS_URL = ""
    response = storefront.post(f"/api/experiments/{experiment.key}/assign", {"subject": "s-1"}, format="json")
    assert response.status_code == 409
    assert "EXPERIMENTS_CHECKOUT_SUCCESS_URL" in response.json()["detail"]
    assert not Exposure.objects.exists()
