"""Demo customers and log-ins, written through the customers services in a fixed order, as a shop would have
met them: guest orders and loyalty sign-ups on each channel (resolved to one customer by normalised e-mail or
phone), then shopper accounts.

Four deliberate duplicates that `omnishop customers find-duplicates` must find:
- Olivia Bennett bought on the marketplace as a guest, then opened a web account typing her e-mail in another
  case, and has not verified it yet, so the account did not claim the guest record: same e-mail, two records.
- Daniel Okafor joined the loyalty scheme at the store till with his national number '0161 496 0461', later
  opened a web account and added '+44 161 496 0461': same phone once normalised, two records.
- Jonathan Smyth (web) and Jon Smyth (marketplace, another e-mail), same house in Leeds: fuzzy name + address.
- Catherine O'Neill (store) and Katherine ONeill (web): fuzzy name + "27 King's Road" / "27 Kings Rd".
And one that must NOT be a duplicate: Amelia Hughes's marketplace order, e-mail in capitals, attaches to her
existing customer at once. Names, e-mails (example.* domains) and phone numbers (Ofcom's ranges reserved
for drama, e.g. 020 7946 0xxx, never assigned) are invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from omnishop.catalog.models import Category
from omnishop.channels.models import Channel
from omnishop.customers import services as customers
from omnishop.customers.models import Address, ChannelIdentity, Customer

STAFF_USERNAME = "admin"
STAFF_EMAIL = "admin@omnishop.example"
STAFF_PASSWORD = "omnishop-admin"
SHOPPER_PASSWORD = "omnishop-shopper"
ROLE_STAFF_PASSWORD = "omnishop-staff"  # every role's demo log-in (backoffice/roles.py)


@dataclass(frozen=True)
class Place:
    line1: str
    city: str
    postcode: str
    country: str = "GB"
    line2: str = ""
    region: str = ""


@dataclass(frozen=True)
class Guest:
    """What a channel told us about a buyer (a guest order, a till loyalty sign-up, an app install)."""

    channel: str
    external_id: str
    first_name: str
    last_name: str
    email: str = ""
    phone: str = ""
    address: Place | None = None
    seen: str = "2026-06-01T10:00:00"
    consent: bool | None = None
    language: str = ""


@dataclass(frozen=True)
class Account:
    """A shopper account (allauth) with its log-in; `verified` says whether the e-mail has been proven."""

    email: str
    first_name: str
    last_name: str
    verified: bool = True
    phone: str = ""
    address: Place | None = None
    consents: dict[str, bool] = field(default_factory=dict)
    language: str = "en-GB"
    favourite_categories: tuple[str, ...] = ()  # category paths; those the (small) demo lacks are skipped


ELM_GROVE = Place("14 Elm Grove", "Leeds", "LS6 2AX")
KINGS_ROAD = Place("27 King's Road", "Brighton", "BN1 1NA")

STORY: tuple[Guest | Account, ...] = (
    Guest(
        "web",
        "W-100231",
        "Amelia",
        "Hughes",
        email="amelia.hughes@example.com",
        phone="020 7946 0123",
        address=Place("22 Laurel Avenue", "Twickenham", "TW1 4JA"),
        seen="2026-03-14T18:22:00",
    ),
    Guest(
        "marketplace-eu",
        "MKT-A1Z4KQ93",
        "Amelia",
        "Hughes",
        email="AMELIA.HUGHES@EXAMPLE.COM",
        seen="2026-05-02T09:10:00",
    ),
    Account(
        "amelia.hughes@example.com",
        "Amelia",
        "Hughes",
        consents={"web": True, "app": True},
        favourite_categories=(
            "women/tops/jackets",
            "collections/new-luma-yoga-collection",
            "home-gifts/kitchen-baking",
        ),
    ),
    Guest(
        "app", "APP-5F2C91", "Amelia", "Hughes", email="amelia.hughes@example.com", seen="2026-07-20T07:45:00"
    ),
    Guest(
        "marketplace-eu",
        "MKT-B7Q2LM04",
        "Olivia",
        "Bennett",
        email="olivia.bennett@example.co.uk",
        address=Place("41 Victoria Road", "Bristol", "BS8 1HH", line2="Flat 3"),
        seen="2026-02-11T20:05:00",
    ),
    Account("Olivia.Bennett@Example.co.uk", "Olivia", "Bennett", verified=False, consents={"web": False}),
    Guest(
        "store-london",
        "LOY-00482913",
        "Daniel",
        "Okafor",
        phone="0161 496 0461",
        seen="2026-01-09T12:30:00",
        consent=True,
    ),
    Account(
        "daniel.okafor@example.com",
        "Daniel",
        "Okafor",
        phone="+44 161 496 0461",
        address=Place("8 Canal Street", "Manchester", "M1 3HE"),
        consents={"web": True},
        favourite_categories=("gear/watches", "men/tops/jackets"),
    ),
    Guest(
        "web",
        "W-100388",
        "Jonathan",
        "Smyth",
        email="jonathan.smyth@example.com",
        address=ELM_GROVE,
        seen="2026-04-03T13:00:00",
    ),
    Guest(
        "marketplace-eu",
        "MKT-C9D1RT77",
        "Jon",
        "Smyth",
        email="jon.smyth1987@example.org",
        address=Place("14 Elm Grove", "Leeds", "LS6 2AX", line2="Flat 2"),
        seen="2026-06-18T21:40:00",
    ),
    Guest(
        "store-london", "LOY-00513377", "Catherine", "O'Neill", address=KINGS_ROAD, seen="2026-02-28T11:15:00"
    ),
    Guest(
        "web",
        "W-100412",
        "Katherine",
        "ONeill",
        email="k.oneill@example.net",
        address=Place("27 Kings Rd", "Brighton", "BN1 1NA"),
        seen="2026-05-30T16:20:00",
    ),
    # Everyone else: one record each, on one or more channels.
    Guest(
        "web",
        "W-100007",
        "George",
        "Patel",
        email="george.patel@example.com",
        phone="0117 496 0201",
        address=Place("3 Mill Lane", "Cambridge", "CB2 1RX"),
        consent=True,
    ),
    Guest("app", "APP-7A01BC", "George", "Patel", email="george.patel@example.com"),
    Guest(
        "web",
        "W-100019",
        "Sophie",
        "Walker",
        email="sophie.walker@example.org",
        address=Place("56 Princes Street", "Edinburgh", "EH2 2DG"),
        consent=False,
    ),
    Guest(
        "web",
        "W-100026",
        "Harry",
        "Evans",
        email="harry.evans@example.com",
        phone="029 2018 0318",
        address=Place("9 Castle Street", "Cardiff", "CF10 1BS"),
    ),
    Guest("store-london", "LOY-00400017", "Isla", "Morgan", phone="020 7946 0842", consent=True),
    Guest(
        "store-london",
        "LOY-00400044",
        "Noah",
        "Clarke",
        phone="020 7946 0905",
        address=Place("101 Upper Street", "London", "N1 1QN"),
    ),
    Guest("store-london", "LOY-00400101", "Grace", "Thompson", email="grace.thompson@example.co.uk"),
    Guest("app", "APP-3B77D0", "Freya", "Robinson", email="freya.robinson@example.com", consent=True),
    Guest("app", "APP-91E4AA", "Leo", "Wright", email="leo.wright@example.com", phone="0113 496 0650"),
    Guest(
        "marketplace-eu",
        "MKT-D2K8WP15",
        "Lukas",
        "Schneider",
        email="lukas.schneider@example.de",
        phone="0151 23456789",
        address=Place("Bergmannstraße 12", "Berlin", "10961", country="DE"),
        language="de-DE",
    ),
    Guest(
        "marketplace-eu",
        "MKT-E5H3NV62",
        "Anna",
        "Müller",
        email="anna.mueller@example.de",
        address=Place("Schanzenstraße 7", "Hamburg", "20357", country="DE"),
        language="de-DE",
    ),
    Guest(
        "marketplace-eu",
        "MKT-F8J6QX28",
        "Camille",
        "Dubois",
        email="camille.dubois@example.fr",
        address=Place("18 Rue Oberkampf", "Paris", "75011", country="FR"),
        language="fr-FR",
    ),
    Guest(
        "marketplace-eu",
        "MKT-G4L9ZB90",
        "Sanne",
        "de Vries",
        email="sanne.devries@example.nl",
        address=Place("Prinsengracht 263", "Amsterdam", "1016 GV", country="NL"),
        language="nl-NL",
    ),
    Guest(
        "web",
        "W-100533",
        "Ava",
        "Mitchell",
        email="ava.mitchell@example.com",
        address=Place("4 The Crescent", "York", "YO24 1AW"),
        consent=True,
    ),
    Guest(
        "web",
        "W-100547",
        "Mohammed",
        "Khan",
        email="m.khan@example.co.uk",
        phone="0121 496 0733",
        address=Place("61 Broad Street", "Birmingham", "B1 2HF"),
    ),
)
# The three shoppers whose log-ins the demo prints.
SHOPPERS = tuple(step.email for step in STORY if isinstance(step, Account))


def _seen(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _add_address(customer: Customer, place: Place, *, name: str, phone: str = "") -> None:
    if Address.objects.filter(customer=customer, line1=place.line1, postcode=place.postcode).exists():
        return
    customers.add_address(
        customer=customer,
        name=name,
        line1=place.line1,
        line2=place.line2,
        city=place.city,
        postcode=place.postcode,
        region=place.region,
        country=place.country,
        phone=phone,
    )


def _guest(step: Guest, channels: dict[str, Channel]) -> None:
    channel = channels[step.channel]
    if ChannelIdentity.objects.filter(channel=channel, external_id=step.external_id).exists():
        return
    resolution = customers.resolve_customer(
        channel=channel,
        external_id=step.external_id,
        email=step.email,
        phone=step.phone,
        first_name=step.first_name,
        last_name=step.last_name,
        seen_at=_seen(step.seen),
    )
    customer = resolution.customer
    if step.address:
        _add_address(customer, step.address, name=f"{step.first_name} {step.last_name}")
    if step.consent is not None or step.language:
        customers.update_preferences(
            customer=customer,
            language=step.language or None,
            consents=[customers.ConsentChange(channel=step.channel, granted=step.consent)]
            if step.consent is not None
            else (),
            source="channel",
            at=_seen(step.seen),
        )


def _account(step: Account) -> None:
    User = get_user_model()
    if User.objects.filter(username=step.email.lower()).exists():
        return
    user = User.objects.create_user(
        username=step.email.lower(),
        email=step.email,
        password=SHOPPER_PASSWORD,
        first_name=step.first_name,
        last_name=step.last_name,
    )
    EmailAddress.objects.create(user=user, email=step.email.lower(), verified=step.verified, primary=True)
    customer = customers.customer_for_user(user=user)
    if step.phone:
        customers.update_profile(customer=customer, phone=step.phone)
    if step.address:
        _add_address(customer, step.address, name=f"{step.first_name} {step.last_name}")
    favourites = Category.objects.filter(path__in=step.favourite_categories).values_list("pk", flat=True)
    customers.update_preferences(
        customer=customer,
        language=step.language,
        favourite_category_ids=list(favourites),
        consents=[customers.ConsentChange(channel=c, granted=g) for c, g in step.consents.items()],
    )


def ensure_customers(channels: dict[str, Channel]) -> None:
    for step in STORY:
        if isinstance(step, Guest):
            _guest(step, channels)
        else:
            _account(step)


def ensure_staff():
    """The demo's superuser: the admin log-in and a staff log-in for the API."""
    User = get_user_model()
    user = User.objects.filter(username=STAFF_USERNAME).first()
    if user is None:
        user = User.objects.create_superuser(
            username=STAFF_USERNAME,
            email=STAFF_EMAIL,
            password=STAFF_PASSWORD,
            first_name="Demo",
            last_name="Admin",
        )
        EmailAddress.objects.create(user=user, email=STAFF_EMAIL, verified=True, primary=True)
    return user


def ensure_role_staff() -> list[dict[str, str]]:
    """One member of staff per back-office role, to try each role's desk: username = the role's key with
    dashes ('customer-service'), e-mail <username>@omnishop.example, password ROLE_STAFF_PASSWORD."""
    from django.contrib.auth.models import Group

    from omnishop.backoffice import roles

    roles.ensure_roles()
    User = get_user_model()
    groups = {g.name: g for g in Group.objects.filter(name__in=[r.name for r in roles.ROLES])}
    logins = []
    for role in roles.ROLES:
        username = role.key.replace("_", "-")
        email = f"{username}@omnishop.example"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username,
                email=email,
                password=ROLE_STAFF_PASSWORD,
                first_name=role.name,
                is_staff=True,
            )
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        user.groups.add(groups[role.name])
        logins.append(
            {"role": role.name, "username": username, "email": email, "password": ROLE_STAFF_PASSWORD}
        )
    return logins
