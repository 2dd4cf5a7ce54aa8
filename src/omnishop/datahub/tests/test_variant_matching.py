"""A second channel's catalogue with other SKUs for the same goods adds no duplicate variants: a row whose
SKU and GTIN the catalogue lacks lands on the matched product's variant with the same option values (from
another channel), or where the channel's SKU map sends it; the channel's SKU is remembered as an alias, so
its orders and stock counts find the variant too, and the job reports every case. And a WordPress
export's custom variation attributes (`attribute_logo`) are option axes like `pa_color` and `pa_size`."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from omnishop.backoffice.analytics import rollups
from omnishop.backoffice.tests.test_analytics_rollups import rollup_totals
from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.datahub import product_merges, profiles, services
from omnishop.datahub.errors import InvalidSkuMap, MergeNotUndoable
from omnishop.datahub.models import (
    ImportJob,
    MatchCandidate,
    ProductMerge,
    SkuAlias,
    StagedTransactionLine,
)
from omnishop.inventory.models import StockLevel, StockMovement
from omnishop.inventory.services import adjust_stock, create_location
from omnishop.orders.models import Order, OrderLine, ReturnLine

from .test_product_matching import catalog_rows
from .test_woocommerce_wxr import item, wxr

pytestmark = pytest.mark.django_db

COLUMNS = [
    "ID",
    "Type",
    "SKU",
    "Name",
    "Published",
    "Description",
    "Categories",
    "Regular price",
    "Parent",
    "Attribute 1 name",
    "Attribute 1 value(s)",
    "Attribute 2 name",
    "Attribute 2 value(s)",
]


# What a shop says about its goods beyond names and prices; a fork of the shop carries the same text.
ABOUT = {
    "Hoodie": ("<p>Heavy cotton hoodie with a kangaroo pocket and a lined hood.</p>", "Clothing > Hoodies"),
    "Cap": ("<p>Six-panel cotton cap with an adjustable strap.</p>", "Clothing > Accessories"),
}


def woo_csv(rows: list[tuple]) -> bytes:
    """WooCommerce product CSV rows: (ID, Type, SKU, Name, price, Parent, color, logo); a product row
    (not a variation) of a product in ABOUT gets its description and categories."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for post_id, kind, sku, name, price, parent, color, logo in rows:
        names = ("Color", "Logo") if color or logo else ("", "")
        about = ABOUT.get(name, ("", "")) if kind != "variation" else ("", "")
        writer.writerow(
            [post_id, kind, sku, name, "1", *about, price, parent, names[0], color, names[1], logo]
        )
    return out.getvalue().encode()


# The shop's catalogue on channel A (WooCommerce) …
WOO = woo_csv(
    [
        (10, "variable", "woo-hoodie", "Hoodie", "", "", "Red, Blue", "Logo, No logo"),
        (11, "variation", "woo-hoodie-red-logo", "Hoodie - Red, Logo", "45", "id:10", "Red", "Logo"),
        (12, "variation", "woo-hoodie-red-nologo", "Hoodie - Red, No logo", "42", "id:10", "Red", "No logo"),
        (13, "variation", "woo-hoodie-blue-logo", "Hoodie - Blue, Logo", "45", "id:10", "Blue", "Logo"),
        (20, "simple", "woo-cap", "Cap", "15", "", "Navy", ""),
    ]
)
# … and a fork's catalogue of the same goods on channel B: same titles, descriptions, categories and
# attributes (a fork copies the shop), its own ids and SKUs, the option values written a little
# differently, and one combination channel A does not sell.
FORK = woo_csv(
    [
        (110, "variable", "FORK-HOODIE", "Hoodie", "", "", "Red, Blue", "Logo, No logo"),
        (111, "variation", "FH-RED-LOGO", "Hoodie - red, logo", "44", "id:110", "red", "logo"),
        (112, "variation", "FH-RED-NOLOGO", "Hoodie - Red, No logo", "41", "id:110", "Red", "No  logo"),
        (113, "variation", "FH-BLUE-LOGO", "Hoodie - Blue, Logo", "44", "id:110", "BLUE", "Logo"),
        (114, "variation", "FH-BLUE-NOLOGO", "Hoodie - Blue, No logo", "41", "id:110", "Blue", "No logo"),
        (120, "simple", "FORK-CAP", "Cap", "14", "", "Navy", ""),
    ]
)


@pytest.fixture
def channels(make_channel):
    return make_channel("woo", "web", "GBP", country="GB"), make_channel("fork", "web", "GBP", country="GB")


def options_of(product: Product) -> list[tuple]:
    return sorted(tuple(sorted(v.attributes.items())) for v in product.variants.all())


def test_a_forks_catalogue_with_other_skus_adds_no_duplicate_variants(run_import, channels):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    job = run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)

    hoodie = Product.objects.get(title="Hoodie")
    assert Product.objects.filter(title="Hoodie").count() == 1
    # One variant per option combination: A's three, plus the fork's blue / no logo.
    assert options_of(hoodie) == [
        (("color", "Blue"), ("logo", "Logo")),
        (("color", "Blue"), ("logo", "No logo")),
        (("color", "Red"), ("logo", "Logo")),
        (("color", "Red"), ("logo", "No logo")),
    ]
    assert Variant.objects.filter(product__title="Cap").count() == 1
    # The fork's listings sit on A's variants, beside A's own.
    red_nologo = Variant.objects.get(sku="woo-hoodie-red-nologo")
    assert sorted(red_nologo.listings.values_list("channel__code", "price")) == [
        ("fork", Decimal("41.0000")),
        ("woo", Decimal("42.0000")),
    ]
    assert red_nologo.attributes == {"color": "Red", "logo": "No logo"}  # A's spelling stays
    assert ChannelListing.objects.get(channel=fork, variant__sku="woo-cap").price == Decimal("14")
    assert Variant.objects.get(sku="FH-BLUE-NOLOGO").product == hoodie

    # Every case is counted and listed: which SKU went to which variant, and why.
    assert (job.imported, job.merged, job.quarantined) == (1, 5, 0)
    assert job.entity_counts["variants_matched_by_options"] == 4
    assert job.entity_counts["variants_created"] == 1
    report = services.quality_report(job=job)
    cases = {case["sku"]: case for case in report["variant_matches"]}
    assert set(cases) == {"FH-RED-LOGO", "FH-RED-NOLOGO", "FH-BLUE-LOGO", "FORK-CAP"}
    assert cases["FH-RED-NOLOGO"]["variant_sku"] == "woo-hoodie-red-nologo"
    assert cases["FH-RED-NOLOGO"]["how"] == "option_values"
    assert cases["FORK-CAP"]["variant"] == Variant.objects.get(sku="woo-cap").pk
    aliases = dict(SkuAlias.objects.filter(channel=fork).values_list("external_sku", "variant__sku"))
    assert aliases["FH-RED-LOGO"] == "woo-hoodie-red-logo"

    # Importing either file again changes nothing.
    again = run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)
    assert again.unchanged == again.rows_read == 6
    assert run_import("woocommerce_products", WOO, name="woo.csv", channel=woo).unchanged == 5
    assert Variant.objects.count() == 5

    # A changed fork row updates its listing on A's variant, still without a new variant.
    changed = FORK.replace(b'"Hoodie - Red, No logo",1,,,41', b'"Hoodie - Red, No logo",1,,,39')
    third = run_import("woocommerce_products", changed, name="fork.csv", channel=fork)
    assert (third.updated, third.unchanged) == (1, 5)
    assert Variant.objects.count() == 5
    assert ChannelListing.objects.get(channel=fork, variant=red_nologo).price == Decimal("39")


def test_the_channels_orders_and_stock_counts_find_the_variant_through_its_alias(run_import, channels):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)
    red_logo = Variant.objects.get(sku="woo-hoodie-red-logo")
    products = Product.objects.count()

    orders = (
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
        b"536365,FH-RED-LOGO,HOODIE RED LOGO,2,2011-01-05 10:00:00,44,17850,United Kingdom\r\n"
    )
    job = run_import("online_retail", orders, name="orders.csv", channel=fork)
    assert job.imported == 1
    line = StagedTransactionLine.objects.get(source="online_retail@fork")
    assert line.variant_id == red_logo.pk
    assert Product.objects.count() == products  # no product made up for the fork's stock code

    create_location(code="fork-store", name="Fork store", kind="retail_store")
    counts = b"sku,location,on_hand\r\nFH-RED-LOGO,fork-store,6\r\n"
    stock = run_import("stock_levels", counts, name="counts.csv", channel=fork)
    assert (stock.imported, stock.quarantined) == (1, 0)
    assert StockLevel.objects.get(variant=red_logo, location__code="fork-store").on_hand == 6
    # Another channel's import does not see the fork's SKUs.
    other = run_import("stock_levels", counts, name="counts.csv", channel=woo)
    assert other.quarantined == 1


@pytest.fixture
def profile_dir(tmp_path, settings):
    directory = tmp_path / "profiles"
    directory.mkdir()
    settings.OMNISHOP_DATAHUB_PROFILE_DIRS = [str(directory)]
    profiles._index.cache_clear()
    yield directory
    profiles._index.cache_clear()


def fork_profile(directory: Path, *, options: str = "", tables: str = "") -> None:
    """The WooCommerce CSV profile as a merchant would copy it for the fork, with its SKU map."""
    text = (profiles.BUILTIN_DIR / "woocommerce_products.toml").read_text()
    text = text.replace('name = "woocommerce_products"', 'name = "fork_products"')
    text = text.replace('source = "woocommerce"', 'source = "fork"')
    text = text.replace("[options]\n", f"[options]\n{options}")
    (directory / "fork_products.toml").write_text(text + tables)
    profiles._index.cache_clear()


# The fork names the colour axis in German: option values cannot match, its SKU map says which is which.
GERMAN_FORK = woo_csv(
    [
        (110, "variable", "FORK-HOODIE", "Hoodie", "", "", "Rot, Blau", ""),
        (111, "variation", "FH-1", "Hoodie - Rot", "44", "id:110", "Rot", "Logo"),
        (112, "variation", "FH-2", "Hoodie - Rot ohne Logo", "41", "id:110", "Rot", "Ohne"),
        (120, "simple", "FC-9", "Baseballkappe", "14", "", "", ""),
    ]
)
MAP_ENTRIES = {"FH-1": "woo-hoodie-red-logo", "FH-2": "woo-hoodie-red-nologo", "FC-9": "woo-cap"}


def assert_mapped(job: ImportJob, fork) -> None:
    assert (job.quarantined, job.entity_counts.get("variants_created", 0)) == (0, 0)
    assert job.entity_counts["variants_mapped_by_sku_map"] == 3
    assert Variant.objects.count() == 4
    for channel_sku, catalog_sku in MAP_ENTRIES.items():
        assert ChannelListing.objects.filter(channel=fork, variant__sku=catalog_sku).exists(), channel_sku
    cases = {
        c["sku"]: (c["how"], c["variant_sku"]) for c in services.quality_report(job=job)["variant_matches"]
    }
    assert cases == {sku: ("sku_map", target) for sku, target in MAP_ENTRIES.items()}
    assert not Product.objects.filter(title="Baseballkappe").exists()


def test_an_inline_sku_map_in_the_profile_sends_the_channels_skus_to_the_catalogues(
    run_import, channels, profile_dir
):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    table = "\n[options.sku_map]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in MAP_ENTRIES.items())
    fork_profile(profile_dir, tables=table)
    job = run_import("fork_products", GERMAN_FORK, name="fork.csv", channel=fork)
    assert_mapped(job, fork)
    assert job.merged == 4  # the hoodie (title match) and the three mapped rows
    assert run_import("fork_products", GERMAN_FORK, name="fork.csv", channel=fork).unchanged == 4


def test_an_sku_map_file_beside_the_profile_does_the_same(run_import, channels, profile_dir):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    lines = "channel_sku,catalog_sku\n" + "".join(f"{k},{v}\n" for k, v in MAP_ENTRIES.items())
    (profile_dir / "fork-skus.csv").write_text(lines)
    fork_profile(profile_dir, options='sku_map_file = "fork-skus.csv"\n')
    job = run_import("fork_products", GERMAN_FORK, name="fork.csv", channel=fork)
    assert_mapped(job, fork)


def test_the_cli_reads_an_sku_map_file_for_one_import(datahub_dirs, channels, tmp_path):
    _, fork = channels
    (tmp_path / "woo.csv").write_bytes(WOO)
    (tmp_path / "fork.csv").write_bytes(GERMAN_FORK)
    (tmp_path / "map.csv").write_text("".join(f"{k},{v}\n" for k, v in MAP_ENTRIES.items()))
    call_command(
        "import", "woocommerce_products", str(tmp_path / "woo.csv"), "--channel", "woo", "--no-progress"
    )
    call_command(
        "import",
        "woocommerce_products",
        str(tmp_path / "fork.csv"),
        "--channel",
        "fork",
        "--sku-map",
        str(tmp_path / "map.csv"),
        "--no-progress",
    )
    job = ImportJob.objects.filter(channel=fork).get()
    assert job.options == {"target": {"sku_map": MAP_ENTRIES}}
    assert_mapped(job, fork)


def test_a_map_entry_naming_an_unknown_catalogue_sku_quarantines_the_row(run_import, channels):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    data = woo_csv([(120, "simple", "FC-9", "Baseballkappe", "14", "", "", "")])
    job = run_import(
        "woocommerce_products",
        data,
        name="fork.csv",
        channel=fork,
        options={"target": {"sku_map": {"FC-9": "woo-no-such-cap"}}},
    )
    assert (job.imported, job.quarantined) == (0, 1)
    reason = job.quarantined_rows.get().reasons[0]
    assert (reason["field"], reason["code"]) == ("sku", "unknown_mapped_sku")
    assert "woo-no-such-cap" in reason["message"]
    assert not Product.objects.filter(title="Baseballkappe").exists()


def test_an_uploader_gives_its_sku_map_inline_never_as_a_server_path(datahub_dirs, channels):
    _, fork = channels
    for options in ({"target": {"sku_map_file": "/etc/passwd"}}, {"target": {"sku_map": {"FC-9": 7}}}):
        with pytest.raises(InvalidSkuMap):
            services.start_import(
                profile="woocommerce_products",
                stream=io.BytesIO(GERMAN_FORK),
                filename="fork.csv",
                channel=fork,
                options=options,
            )
    assert not ImportJob.objects.exists()


def test_two_variants_with_the_rows_options_are_not_guessed_between(run_import, channels):
    woo, fork = channels
    twins = woo_csv(
        [
            (10, "variable", "woo-hoodie", "Hoodie", "", "", "Red", "Logo"),
            (11, "variation", "woo-hoodie-red-a", "Hoodie - Red", "45", "id:10", "Red", "Logo"),
            (12, "variation", "woo-hoodie-red-b", "Hoodie - Red", "45", "id:10", "Red", "Logo"),
        ]
    )
    job_a = run_import("woocommerce_products", twins, name="woo.csv", channel=woo)
    assert job_a.entity_counts["variants_created"] == 2  # one source's own twins stay as they are
    data = woo_csv(
        [
            (110, "variable", "FORK-HOODIE", "Hoodie", "", "", "Red", "Logo"),
            (111, "variation", "FH-RED-LOGO", "Hoodie - Red", "44", "id:110", "Red", "Logo"),
        ]
    )
    job = run_import("woocommerce_products", data, name="fork.csv", channel=fork)
    assert job.entity_counts["variant_matches_ambiguous"] == 1
    assert Variant.objects.filter(sku="FH-RED-LOGO").exists()  # created as before
    [case] = services.quality_report(job=job)["variant_matches"]
    twins_pks = sorted(Variant.objects.filter(sku__startswith="woo-hoodie-red").values_list("pk", flat=True))
    assert (case["how"], case["sku"], sorted(case["candidates"])) == ("ambiguous", "FH-RED-LOGO", twins_pks)
    assert not SkuAlias.objects.exists()


def test_a_channels_own_second_row_with_the_same_options_is_its_own_variant(run_import, channels):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    data = woo_csv(
        [
            (110, "variable", "FORK-HOODIE", "Hoodie", "", "", "Red", "Logo"),
            (111, "variation", "FH-RED-LOGO", "Hoodie - Red", "44", "id:110", "Red", "Logo"),
            (112, "variation", "FH-RED-LOGO-2", "Hoodie - Red", "44", "id:110", "Red", "Logo"),
        ]
    )
    job = run_import("woocommerce_products", data, name="fork.csv", channel=fork)
    assert job.entity_counts["variants_matched_by_options"] == 1
    assert Variant.objects.filter(sku="FH-RED-LOGO-2").exists()
    assert not Variant.objects.filter(sku="FH-RED-LOGO").exists()


def test_every_attribute_meta_of_a_wxr_variation_is_an_option_axis(run_import, channels):
    woo, _ = channels
    parent = item(
        5,
        "Hoodie",
        "product",
        meta={"_sku": "wxr-hoodie"},
        terms=[("product_type", "variable"), ("pa_color", "Red"), ("pa_size", "L")],
    )
    variations = [
        item(
            post_id,
            f"Hoodie - {logo}",
            "product_variation",
            parent=5,
            meta={
                "_sku": sku,
                "_regular_price": "45",
                "attribute_pa_color": "red",
                "attribute_pa_size": "l",
                "attribute_logo": logo,
            },
        )
        for post_id, sku, logo in ((6, "wxr-hoodie-logo", "Logo"), (7, "wxr-hoodie-nologo", "No logo"))
    ]
    job = run_import("woocommerce_wxr_products", wxr(parent, *variations), name="h.xml", channel=woo)
    assert (job.imported, job.quarantined) == (3, 0)
    nologo = Variant.objects.get(sku="wxr-hoodie-nologo")
    assert nologo.attributes == {"color": "red", "size": "l", "logo": "No logo"}
    assert nologo.title == "red / l / No logo"  # color and size first, as before (JSONB keeps no order)
    assert Variant.objects.get(sku="wxr-hoodie-logo").attributes["logo"] == "Logo"
    assert "meta.attribute_logo" not in job.quality["unknown_columns"]


DOCS = Path(__file__).resolve().parents[4] / "docs" / "datahub.md"


def worked_example() -> tuple[str, str, str]:
    """The profile, the SKU map and the file of docs/datahub.md's worked example, as the page shows them."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Adapting to a new export without code", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("\n", 1)[1] for block in section.split("```")[1::2]]
    return blocks[0], blocks[1], blocks[2]


def test_the_worked_example_of_the_docs_imports_as_described(run_import, channels, profile_dir):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    profile, sku_map, data = worked_example()
    (profile_dir / "fork_products.toml").write_text(profile)
    (profile_dir / "fork-skus.csv").write_text(sku_map)
    profiles._index.cache_clear()
    products, variants = Product.objects.count(), Variant.objects.count()

    # The dry run shows where each SKU would go, and writes nothing.
    (profile_dir.parent / "fork.csv").write_text(data)
    check = services.check_import(profile="fork_products", path=profile_dir.parent / "fork.csv", channel=fork)
    assert check["would"]["merged"] == 3
    assert {(c["sku"], c["variant_sku"]) for c in check["variant_matches"]} == {
        ("FK-1001", "woo-hoodie-red-logo"),
        ("FK-1002", "woo-hoodie-red-nologo"),
        ("FK-CAP", "woo-cap"),
    }
    assert not SkuAlias.objects.exists() and not ChannelListing.objects.filter(channel=fork).exists()

    job = run_import("fork_products", data.encode(), name="fork.csv", channel=fork)
    assert (job.merged, job.imported, job.quarantined) == (3, 0, 0)
    assert job.entity_counts["variants_mapped_by_sku_map"] == 3
    assert (Product.objects.count(), Variant.objects.count()) == (products, variants)
    listed = dict(
        ChannelListing.objects.filter(channel=fork).values_list("variant__sku", "price"),
    )
    assert listed == {
        "woo-hoodie-red-logo": Decimal("44.90"),
        "woo-hoodie-red-nologo": Decimal("41.50"),
        "woo-cap": Decimal("14.00"),
    }
    weights = dict(Variant.objects.filter(sku__in=listed).values_list("sku", "weight_grams"))
    assert weights == {"woo-hoodie-red-logo": 450, "woo-hoodie-red-nologo": 450, "woo-cap": 120}
    assert len(services.quality_report(job=job)["variant_matches"]) == 3
    assert set(SkuAlias.objects.filter(channel=fork).values_list("external_sku", flat=True)) == {
        "FK-1001",
        "FK-1002",
        "FK-CAP",
    }


def test_an_upload_gives_its_sku_map_in_its_options_and_reads_the_cases_in_its_quality_report(
    datahub_dirs, run_import, channels, make_key
):
    from django.test import Client

    from .test_api import upload

    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    client = Client()
    headers = {"Authorization": f"Bearer {make_key(fork, scopes=['imports:write'])}"}
    refused = upload(
        client,
        headers,
        GERMAN_FORK,
        profile="woocommerce_products",
        name="fork.csv",
        options='{"target": {"sku_map_file": "/etc/passwd"}}',
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_sku_map"
    response = upload(
        client,
        headers,
        GERMAN_FORK,
        profile="woocommerce_products",
        name="fork.csv",
        options=json.dumps({"target": {"sku_map": MAP_ENTRIES}}),
    )
    assert response.status_code == 202, response.content
    job = response.json()
    quality = client.get(f"/api/v1/datahub/imports/{job['id']}/quality", headers=headers).json()
    assert quality["entities"]["variants_mapped_by_sku_map"] == 3
    cases = {case["sku"]: case for case in quality["variant_matches"]}
    assert cases["FC-9"]["how"] == "sku_map" and cases["FC-9"]["variant_sku"] == "woo-cap"
    assert cases["FC-9"]["variant"] == Variant.objects.get(sku="woo-cap").pk


def test_staff_see_the_channels_sku_aliases_and_can_delete_a_wrong_one(run_import, channels, staff_user):
    from django.test import Client

    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)
    client = Client()
    client.force_login(staff_user)
    page = client.get("/admin/datahub/skualias/?q=FH-RED-NOLOGO")
    assert page.status_code == 200 and "FH-RED-NOLOGO" in page.content.decode()
    alias = SkuAlias.objects.get(external_sku="FH-RED-NOLOGO")
    assert client.get(f"/admin/datahub/skualias/{alias.pk}/delete/").status_code == 200
    assert client.post(f"/admin/datahub/skualias/{alias.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not SkuAlias.objects.filter(pk=alias.pk).exists()


def test_undoing_the_forks_merges_gives_it_back_its_own_variants_exactly(run_import, channels):
    """Issue 15: an exact undo of a product merge also undoes what variant matching did for the source
    inside the merged product — its own variants come back as its rows had them, with its listings."""
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    before = catalog_rows()
    run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)
    merges = list(ProductMerge.objects.filter(undone_at__isnull=True))
    assert sorted(m.product.title for m in merges) == ["Cap", "Hoodie"]
    for merge in merges:
        product_merges.undo_product_merge(merge=merge)

    after = catalog_rows()
    forks = set(Product.objects.filter(variants__listings__channel=fork).values_list("pk", flat=True))
    assert len(forks) == 2
    assert [r for r in after["Product"] if r["id"] not in forks] == before["Product"]
    assert [r for r in after["Variant"] if r["product"] not in forks] == before["Variant"]
    assert [r for r in after["ChannelListing"] if r["channel"] != fork.pk] == before["ChannelListing"]
    assert sorted(Variant.objects.filter(product__in=forks).values_list("sku", flat=True)) == [
        "FH-BLUE-LOGO",
        "FH-BLUE-NOLOGO",
        "FH-RED-LOGO",
        "FH-RED-NOLOGO",
        "FORK-CAP",
    ]
    red_logo = Variant.objects.get(sku="FH-RED-LOGO")
    assert red_logo.attributes == {"color": "red", "logo": "logo"}  # the fork's own spelling
    assert ChannelListing.objects.get(channel=fork, variant__sku="FH-RED-NOLOGO").price == Decimal("41")
    assert not SkuAlias.objects.exists()
    # The ledger names the fork's own variants and products again: a re-import changes nothing.
    again = run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)
    assert again.unchanged == 6 and Variant.objects.count() == 9


def test_accepting_a_candidate_folds_variants_with_the_same_options_unless_unsafe(
    run_import, channels, staff_user
):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    strict = {"target": {"product_match_auto": 0.99}}  # staff decide every match
    job = run_import("woocommerce_products", FORK, name="fork.csv", channel=fork, options=strict)
    assert job.queued_for_review == 2 and Variant.objects.count() == 9
    create_location(code="fork-store", name="Fork store", kind="retail_store")
    counts = b"sku,location,on_hand\r\nFH-BLUE-LOGO,fork-store,6\r\n"
    assert run_import("stock_levels", counts, name="counts.csv", channel=fork).imported == 1
    hoodie = Product.objects.get(title="Hoodie", variants__sku="woo-hoodie-red-logo")
    candidate = MatchCandidate.objects.get(entity="product", left_id=hoodie.pk)
    before = catalog_rows()

    services.decide_match(candidate=candidate, merge=True, user=staff_user)
    merge = ProductMerge.objects.get()
    # Red/logo and red/no logo fold into channel A's variants, which take the fork's listings; their
    # SKUs become the fork's aliases. Blue/logo has stock: kept side by side and reported.
    assert not Variant.objects.filter(sku__in=["FH-RED-LOGO", "FH-RED-NOLOGO"]).exists()
    red_logo = Variant.objects.get(sku="woo-hoodie-red-logo")
    assert sorted(red_logo.listings.values_list("channel__code", flat=True)) == ["fork", "woo"]
    aliases = dict(SkuAlias.objects.filter(channel=fork).values_list("external_sku", "variant__sku"))
    assert aliases == {"FH-RED-LOGO": "woo-hoodie-red-logo", "FH-RED-NOLOGO": "woo-hoodie-red-nologo"}
    [conflict] = merge.variant_conflicts
    assert (conflict["variant"], conflict["same_as"]) == ("FH-BLUE-LOGO", "woo-hoodie-blue-logo")
    assert "stock" in conflict["reason"]
    assert sorted(hoodie.variants.values_list("sku", flat=True)) == [
        "FH-BLUE-LOGO",
        "FH-BLUE-NOLOGO",
        "woo-hoodie-blue-logo",
        "woo-hoodie-red-logo",
        "woo-hoodie-red-nologo",
    ]
    # The fork's orders name the folded SKU: it still resolves, to the kept variant.
    orders = (
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
        b"536365,FH-RED-LOGO,HOODIE RED LOGO,2,2011-01-05 10:00:00,44,17850,United Kingdom\r\n"
    )
    run_import("online_retail", orders, name="orders.csv", channel=fork)
    assert StagedTransactionLine.objects.get(source="online_retail@fork").variant_id == red_logo.pk

    product_merges.undo_product_merge(merge=merge)
    assert catalog_rows() == before  # the folded variants are the very rows again, with their listings
    assert not SkuAlias.objects.exists()
    # … and the order the fork imported through the alias names the fork's variant again.
    assert StagedTransactionLine.objects.get(source="online_retail@fork").variant.sku == "FH-RED-LOGO"
    assert OrderLine.objects.get(order__channel=fork).variant.sku == "FH-RED-LOGO"


def test_undoing_a_merge_keeps_what_the_sku_map_decided(run_import, channels):
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    job = run_import(
        "woocommerce_products",
        GERMAN_FORK,
        name="fork.csv",
        channel=fork,
        options={"target": {"sku_map": MAP_ENTRIES}},
    )
    assert_mapped(job, fork)
    merge = ProductMerge.objects.get(product__title="Hoodie")
    product_merges.undo_product_merge(merge=merge)  # not refused: a map's listings are not the merge's
    # The map is staff configuration: its aliases and the listings it placed stay where it sent them.
    aliases = dict(SkuAlias.objects.filter(channel=fork).values_list("external_sku", "variant__sku"))
    assert aliases == MAP_ENTRIES
    for catalog_sku in MAP_ENTRIES.values():
        assert ChannelListing.objects.filter(channel=fork, variant__sku=catalog_sku).exists()
    assert Variant.objects.count() == 4


FORK_ORDERS = (
    b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
    b"536365,FH-RED-LOGO,HOODIE RED LOGO,2,2011-01-05 10:00:00,44,17850,United Kingdom\r\n"
    b"536365,FH-BLUE-NOLOGO,HOODIE BLUE NO LOGO,1,2011-01-05 10:00:00,41,17850,United Kingdom\r\n"
    b"536366,FORK-CAP,CAP,3,2011-01-06 11:00:00,14,17850,United Kingdom\r\n"
    b"C536367,FORK-CAP,CAP,-1,2011-01-07 12:00:00,14,17850,United Kingdom\r\n"
)
FORK_COUNTS = b"sku,location,on_hand\r\nFH-RED-LOGO,fork-store,6\r\nFH-RED-NOLOGO,fork-store,3\r\n"


def stock_books() -> dict[str, tuple[int, int]]:
    """SKU -> (on hand at fork-store, sum of its ledger there): the two must agree."""
    books = {}
    for level in StockLevel.objects.filter(location__code="fork-store").select_related("variant"):
        moved = StockMovement.objects.filter(variant=level.variant, location=level.location)
        books[level.variant.sku] = (level.on_hand, sum(moved.values_list("quantity", flat=True)))
    return books


def test_undoing_a_merge_gives_the_channels_orders_and_stock_counts_back_to_its_own_variants(
    run_import, channels
):
    """Issue 15: orders and stock counts the fork imported through an alias (its SKU for the shop's
    variant) follow the fork's own variant when the merge is undone — as if it had never been merged."""
    woo, fork = channels
    run_import("woocommerce_products", WOO, name="woo.csv", channel=woo)
    location = create_location(code="fork-store", name="Fork store", kind="retail_store")
    red_logo, red_nologo = (Variant.objects.get(sku=f"woo-hoodie-red-{s}") for s in ("logo", "nologo"))
    adjust_stock(variant=red_logo, location=location, delta=10, reason_code="correction")
    adjust_stock(variant=red_nologo, location=location, delta=3, reason_code="correction")
    run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)
    assert run_import("online_retail", FORK_ORDERS, name="orders.csv", channel=fork).quarantined == 0
    # The fork counts 6 red/logo (the shop's 10 become 6) and 3 red/no logo (already so: no movement).
    assert run_import("stock_levels", FORK_COUNTS, name="counts.csv", channel=fork).quarantined == 0
    assert stock_books()["woo-hoodie-red-logo"] == (6, 6)
    fork_orders = Order.objects.filter(channel=fork)
    assert set(OrderLine.objects.filter(order__in=fork_orders).values_list("variant__sku", flat=True)) == {
        "woo-hoodie-red-logo",
        "FH-BLUE-NOLOGO",
        "woo-cap",
    }
    totals = sorted(fork_orders.values_list("number", "total"))

    for merge in ProductMerge.objects.filter(undone_at__isnull=True):
        product_merges.undo_product_merge(merge=merge)

    # Order lines and staged lines name the fork's own variants; the orders' totals do not move.
    assert sorted(
        OrderLine.objects.filter(order__in=fork_orders).values_list(
            "order__external_id", "sku", "variant__sku"
        )
    ) == [
        ("536365", "FH-BLUE-NOLOGO", "FH-BLUE-NOLOGO"),
        ("536365", "FH-RED-LOGO", "FH-RED-LOGO"),
        ("536366", "FORK-CAP", "FORK-CAP"),
    ]
    staged = StagedTransactionLine.objects.filter(source="online_retail@fork")
    assert {sku: v for sku, v in staged.values_list("sku", "variant__sku")} == {
        "FH-RED-LOGO": "FH-RED-LOGO",
        "FH-BLUE-NOLOGO": "FH-BLUE-NOLOGO",
        "FORK-CAP": "FORK-CAP",
    }
    assert sorted(fork_orders.values_list("number", "total")) == totals
    assert ReturnLine.objects.get().order_line.variant.sku == "FORK-CAP"
    # The shop's variants hold their own stock again; the fork's hold what the fork counted; every
    # level equals its ledger.
    assert stock_books() == {
        "woo-hoodie-red-logo": (10, 10),
        "woo-hoodie-red-nologo": (3, 3),
        "FH-RED-LOGO": (6, 6),
        "FH-RED-NOLOGO": (3, 3),
    }
    # The dashboard's rollups follow the lines to their variants' products: equal to a rebuild from the orders.
    figures = rollup_totals()
    assert {key[4] for key in figures["blocks"]} == set(
        Variant.objects.filter(sku__in=["FH-RED-LOGO", "FH-BLUE-NOLOGO", "FORK-CAP"]).values_list(
            "product_id", flat=True
        )
    )
    rollups.rebuild()
    assert rollup_totals() == figures
    # Importing the fork's files again changes nothing.
    assert run_import("online_retail", FORK_ORDERS, name="orders.csv", channel=fork).unchanged == 4
    assert run_import("stock_levels", FORK_COUNTS, name="counts.csv", channel=fork).unchanged == 2
    assert stock_books()["FH-RED-LOGO"] == (6, 6)


def test_an_order_line_holding_the_alias_and_the_catalogue_sku_refuses_the_undo(run_import, channels):
    """Both SKUs in one invoice became one order line of the shop's variant: it cannot be split exactly."""
    woo, fork = channels
    shop = WOO.replace(b"woo-hoodie-red-logo", b"WOO-RED-LOGO")  # a SKU the orders profile keeps as it is
    run_import("woocommerce_products", shop, name="woo.csv", channel=woo)
    run_import("woocommerce_products", FORK, name="fork.csv", channel=fork)
    both = (
        FORK_ORDERS + b"536365,WOO-RED-LOGO,HOODIE RED LOGO,1,2011-01-05 10:00:00,44,17850,United Kingdom\r\n"
    )
    run_import("online_retail", both, name="orders.csv", channel=fork)
    line = OrderLine.objects.get(order__external_id="536365", variant__sku="WOO-RED-LOGO")
    assert line.quantity == 3
    merge = ProductMerge.objects.get(product__title="Hoodie")
    with pytest.raises(MergeNotUndoable, match="cannot be split"):
        product_merges.undo_product_merge(merge=merge)
    assert ProductMerge.objects.get(pk=merge.pk).undone_at is None
    assert OrderLine.objects.get(pk=line.pk).variant.sku == "WOO-RED-LOGO"
