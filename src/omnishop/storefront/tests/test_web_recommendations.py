"""Recommendation performance from the web shop: a page that shows recommended products counts their
impressions, their links carry the placement, following one counts a click (robots and made-up placements
are ignored, never an error page), and an order of the clicked product is attributed to it — for a guest
through the browser session it was placed in."""

from __future__ import annotations

import itertools
import re

import pytest
from django.utils import timezone

from omnishop.recommendations import services as recs
from omnishop.recommendations.models import Attribution, AttributionDay, Click, ItemDay
from omnishop.recommendations.services import serving

from .test_web_pages import CHECKOUT, text

pytestmark = pytest.mark.django_db(transaction=False)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
_visitors = itertools.count(1)


@pytest.fixture
def recommending(store):
    """Shoppers who viewed and bought both products together, and a trained, active model."""
    from omnishop.catalog.models import Product

    hoodie, tee = Product.objects.get(slug="chaz-hoodie"), Product.objects.get(slug="zhen-tee")
    events = []
    for _ in range(6):
        visitor = f"seed-{next(_visitors)}"
        for product in (hoodie, tee):
            events += [
                {"kind": "view", "product_id": product.pk, "anonymous_id": visitor},
                {"kind": "purchase", "product_id": product.pk, "anonymous_id": visitor},
            ]
    recs.record_events(channel=store.channel, events=events)
    recs.train()
    # train() forgets the cached active version on commit, which a test inside a transaction never reaches:
    # without this a previous test's version (another id on PostgreSQL) would be served for two seconds.
    serving.forget_version()
    return {"hoodie": hoodie, "tee": tee}


def shown(channel) -> dict[str, int]:
    return {
        f"{r.placement}:{r.product_id}": r.impressions
        for r in ItemDay.objects.filter(channel=channel, impressions__gt=0)
    }


def test_the_home_page_counts_its_recommendations_and_links_them_with_the_placement(
    client, store, recommending
):
    response = client.get("/", HTTP_USER_AGENT=BROWSER)
    body = text(response)
    hoodie, tee = recommending["hoodie"], recommending["tee"]
    assert (
        'href="/p/chaz-hoodie/?rec=home.popular"' in body and 'href="/p/zhen-tee/?rec=home.popular"' in body
    )
    assert shown(store.channel) == {f"home.popular:{hoodie.pk}": 1, f"home.popular:{tee.pk}": 1}
    client.get("/", HTTP_USER_AGENT=BROWSER)
    assert shown(store.channel)[f"home.popular:{hoodie.pk}"] == 2
    version = recs.active_version().number
    assert set(ItemDay.objects.values_list("version", flat=True)) == {version}


def test_robots_are_not_counted(client, store, recommending):
    client.get(
        "/", HTTP_USER_AGENT="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    )
    client.get("/")  # no User-Agent at all
    client.get("/p/chaz-hoodie/?rec=home.popular", HTTP_USER_AGENT="curl/8.5.0")
    assert not ItemDay.objects.exists() and not Click.objects.exists()


def test_the_product_page_counts_similar_and_bought_together_in_their_own_placements(
    client, store, recommending
):
    body = text(client.get("/p/chaz-hoodie/", HTTP_USER_AGENT=BROWSER))
    tee = recommending["tee"]
    links = set(re.findall(r'href="(/p/zhen-tee/\?rec=[a-z._]+)"', body))
    assert links == {"/p/zhen-tee/?rec=product.similar", "/p/zhen-tee/?rec=product.together"}
    assert shown(store.channel) == {f"product.similar:{tee.pk}": 1, f"product.together:{tee.pk}": 1}


def test_following_a_tracked_link_counts_a_click_once(client, store, recommending):
    tee = recommending["tee"]
    response = client.get("/p/zhen-tee/?rec=product.similar", HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    (click,) = Click.objects.all()
    assert (click.placement, click.product_id, click.customer_id) == ("product.similar", tee.pk, None)
    assert click.anonymous_id and click.anonymous_id == client.session["shop_visitor"]
    client.get("/p/zhen-tee/?rec=product.similar", HTTP_USER_AGENT=BROWSER)  # a reload: the same click
    assert Click.objects.count() == 1
    assert ItemDay.objects.get(placement="product.similar", product_id=tee.pk).clicks == 1


@pytest.mark.parametrize(
    "rec", ["nope", "home.popular'--", "x" * 5000, "%00", "home.popular&rec=home.for_you", ""]
)
def test_made_up_placements_are_ignored_and_never_an_error(client, store, rec):
    response = client.get("/p/zhen-tee/", {"rec": rec}, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    assert not Click.objects.exists()


def test_a_guest_who_clicked_and_bought_brings_attributed_revenue(client, store, recommending):
    client.get("/p/zhen-tee/?rec=home.popular", HTTP_USER_AGENT=BROWSER)
    client.post("/cart/add", {"sku": "TEE-1", "quantity": "2"})
    client.post("/cart/add", {"sku": "HOOD-S"})
    assert client.post("/checkout", CHECKOUT).status_code == 302
    (attribution,) = Attribution.objects.all()
    assert (attribution.placement, attribution.product_id, attribution.quantity) == (
        "home.popular",
        recommending["tee"].pk,
        2,
    )
    day = AttributionDay.objects.get()
    assert (day.day, day.orders, day.units, day.currency) == (timezone.now().date(), 1, 2, "GBP")


def test_another_browser_buying_the_same_product_brings_no_attribution(client, store, recommending):
    from django.test import Client

    client.get("/p/zhen-tee/?rec=home.popular", HTTP_USER_AGENT=BROWSER)
    other = Client()
    other.post("/cart/add", {"sku": "TEE-1"})
    assert other.post("/checkout", CHECKOUT).status_code == 302
    assert not Attribution.objects.exists()
