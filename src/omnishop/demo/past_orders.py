"""The web shop's past invoices, imported the way a merchant would: the real Online Retail lines of one month
for the demo giftware (data/web_invoices_*.csv.gz, made by extract.py) through the data hub's
`online_retail` profile. Invoices become completed past orders of the web channel, credit notes returns and
refunds; the import job, its quality report and any quarantined row are in the back-office."""

from __future__ import annotations

from omnishop.channels.models import Channel
from omnishop.datahub import services as datahub
from omnishop.datahub.models import ImportJob

from .extract import DATA_DIR, PAST_ORDERS_FILE

# The demo catalog already has the giftware: lines link to it and never create products.
OPTIONS = {"target": {"create_products": False, "link_products": True}}


def ensure_past_orders(channel: Channel) -> ImportJob:
    """Import the extract once; later runs find the finished job and leave everything as it is."""
    done = ImportJob.objects.filter(
        profile="online_retail",
        channel=channel,
        source_name=PAST_ORDERS_FILE,
        status=ImportJob.Status.SUCCEEDED,
    ).first()
    if done is not None:
        return done
    return datahub.import_files(
        profile="online_retail", paths=[DATA_DIR / PAST_ORDERS_FILE], channel=channel, options=OPTIONS
    )[0]
