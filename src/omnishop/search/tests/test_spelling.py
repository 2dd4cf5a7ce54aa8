"""Spelling tolerance: a word nothing holds as typed is read as the closest title words (search/spelling.py)."""

from __future__ import annotations

import pytest
from rapidfuzz.distance import OSA

from omnishop.search import services, spelling

from .test_search import add, catalog, ids  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clothes(add):  # noqa: F811
    return {
        "hoodie": add("Grey zip hoodie", attributes={"colour": "grey"}),
        "red_hoodie": add("Red pullover hoodie", attributes={"colour": "red"}),
        "red_scarf": add("Red wool scarf", attributes={"colour": "red"}),
        "jacket": add("Waterproof hiking jacket", description="taped seams"),
    }


def test_a_misspelt_word_finds_what_the_shopper_meant_and_says_how_it_was_read(web_channel, clothes):
    result = services.search_products(channel=web_channel, query="hodie")
    assert set(ids(result)) == {clothes["hoodie"].pk, clothes["red_hoodie"].pk}
    assert result.corrections == {"hodie": ["hoodie"]}
    assert result.query_tokens == ["hody"]  # "-ie" words are indexed as "-y" (hoodie, hoodies → hoody)


def test_a_word_spelt_right_is_searched_as_before_with_no_correction(web_channel, clothes):
    as_typed = services.search_products(channel=web_channel, query="hoodies")
    assert set(ids(as_typed)) == {clothes["hoodie"].pk, clothes["red_hoodie"].pk}
    assert as_typed.corrections == {}
    # a word only a description holds finds its product as typed: nothing is corrected
    seams = services.search_products(channel=web_channel, query="seams")
    assert (ids(seams), seams.corrections) == ([clothes["jacket"].pk], {})


def test_one_misspelt_word_of_several_is_corrected_and_every_word_still_counts(web_channel, clothes):
    result = services.search_products(channel=web_channel, query="red hodie")
    assert ids(result)[0] == clothes["red_hoodie"].pk
    assert result.corrections == {"hodie": ["hoodie"]}


def test_swapped_letters_and_two_slips_in_a_long_word(web_channel, clothes):
    assert ids(services.search_products(channel=web_channel, query="jakcet")) == [clothes["jacket"].pk]
    typo = "watreprouf"
    assert OSA.distance(typo, "waterproof") == 2
    result = services.search_products(channel=web_channel, query=typo)
    assert (ids(result), result.corrections) == ([clothes["jacket"].pk], {typo: ["waterproof"]})


def test_short_words_numbers_and_far_words_are_not_guessed(web_channel, clothes):
    for query in ("hod", "h0die", "zzzzzz", "hoodxyz"):
        result = services.search_products(channel=web_channel, query=query)
        assert (ids(result), result.corrections) == ([], {}), query


def test_of_several_neighbours_the_closest_and_most_common_come_first(add, web_channel):  # noqa: F811
    add("Linen shirt")
    add("Linen shirt, long sleeve")
    add("Silk skirt")
    services.refresh_index(force=True)
    vocabulary = spelling.vocabulary()
    assert vocabulary.spelt["shirt"] == "shirt"
    assert vocabulary.neighbours("shirr") == ["shirt"]  # distance 1; "skirt" is 2 away
    assert vocabulary.neighbours("shirtt") == ["shirt"]
    assert vocabulary.neighbours("skirtt") == ["skirt"]
    assert set(vocabulary.neighbours("sxirt")) == {"shirt", "skirt"}
    assert vocabulary.neighbours("sxirt")[0] == "shirt"  # two titles hold it


def test_a_product_indexed_later_is_a_correction_at_once(add, web_channel, clothes):  # noqa: F811
    assert services.search_products(channel=web_channel, query="beenie").corrections == {}
    beanie = add("Knitted beanie")
    result = services.search_products(channel=web_channel, query="beenie")
    assert (ids(result), result.corrections) == ([beanie.pk], {"beenie": ["beanie"]})


def test_the_api_and_the_shop_page_say_what_the_query_was_read_as(
    api, client, web_channel, make_key, clothes
):
    body = (
        api.with_key(make_key(web_channel, ["catalog:read"])).get("/search/products", {"q": "hodie"}).json()
    )
    assert body["corrections"] == {"hodie": ["hoodie"]}
    assert {i["product_id"] for i in body["items"]} == {clothes["hoodie"].pk, clothes["red_hoodie"].pk}
    page = client.get("/search?q=hodie").content.decode()
    assert "showing results for “hoodie”" in page
    assert "Grey zip hoodie" in page


def test_singular_and_plural_of_ie_words_meet_and_type_ahead_finds_them_mid_word(add, web_channel):  # noqa: F811
    one = add("Chaz Kangeroo Hoodie")
    many = add("Hoodies & Sweatshirts gift set")
    battery = add("AA batteries, pack of 4")
    for query in ("hoodie", "hoodies", "HOODIE"):
        assert set(ids(services.search_products(channel=web_channel, query=query))) == {one.pk, many.pk}
    assert ids(services.search_products(channel=web_channel, query="battery")) == [battery.pk]
    for typed in ("hood", "hoodi", "hoodie"):
        assert {s["product_id"] for s in services.suggest(channel=web_channel, query=typed)} == {
            one.pk,
            many.pk,
        }
