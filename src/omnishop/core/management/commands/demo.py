"""`omnishop demo`: migrate, load the demo shop (once; later runs reuse it), print where everything is and how
to log in, then serve. `make demo` runs it on the embedded SQLite database under var/.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import connections

from omnishop.demo import support as support_demo
from omnishop.demo.loader import DemoResult, credentials_path, load_demo


class Command(BaseCommand):
    help = "Migrate, load the demo data (idempotent), print the URLs, log-ins and API key, and serve."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--small", action="store_true", help="Load a few products of each source only.")
        parser.add_argument(
            "--no-serve", action="store_true", help="Load and print, but do not start a server."
        )
        parser.add_argument(
            "--server",
            choices=["auto", "granian", "gunicorn", "runserver"],
            default="auto",
            help="auto: `omnishop serve` (granian) when installed, else Django's development server; "
            "granian or gunicorn: `omnishop serve --server …`.",
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        self.stdout.write("Migrating the database …")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Loading the demo (what exists is reused) …")
        clock = time.monotonic()

        def progress(step: str) -> None:
            self.stdout.write(f"  [{time.monotonic() - clock:5.1f} s] {step}")

        result = load_demo(small=options["small"], progress=progress)
        progress("channel integrations: Shopify and WooCommerce connections, a till, catalogue feeds")
        from omnishop.channels.models import Channel
        from omnishop.demo import integrations

        linked = integrations.ensure_integrations(
            {c.code: c for c in Channel.objects.all()}, port=options["port"]
        )
        self.stdout.write(banner(result, host=options["host"], port=options["port"]))
        self.stdout.write(
            integrations_banner(
                linked, host=options["host"], port=options["port"], serving=not options["no_serve"]
            )
        )
        self.stdout.write(f"Ready in {time.monotonic() - started:.1f} s.\n")
        if options["no_serve"]:
            return
        # Forked server processes must not inherit this process's database connection.
        connections.close_all()
        # The fakes of Shopify and WooCommerce run in this process while it serves; the relay pushes to them.
        settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True
        integrations.start_fakes(options["port"])
        server = options["server"]
        if server == "auto":
            server = "granian" if "serve" in get_commands() else "runserver"
        self.stdout.write(f"Starting the server ({server}); stop it with Ctrl-C.")
        if server in ("granian", "gunicorn"):
            # With DEBUG on, whitenoise serves static files straight from the apps (autorefresh), so the
            # collect step (seconds on every start) is only needed when the demo runs with DEBUG off.
            call_command(
                "serve",
                host=options["host"],
                port=options["port"],
                server=server,
                no_collectstatic=settings.DEBUG,
            )
        else:
            call_command("runserver", f"{options['host']}:{options['port']}", use_reloader=False)


def integrations_banner(linked, *, host: str, port: int, serving: bool) -> str:
    from omnishop.demo.integrations import TILL_DEVICE, fake_ports

    base = f"http://{host}:{port}"
    ports = fake_ports(port)
    state = "running with this server" if serving else "offline (start `omnishop demo` to run them)"
    lines = ["Channel integrations (docs/events.md, webhooks.md, connectors.md, pos-protocol.md, feeds.md)"]
    for channel, what in sorted(linked.connections.items()):
        lines.append(f"  {channel:15}: {what}")
    lines += [
        f"  fake services  : Shopify 127.0.0.1:{ports['shopify']}, WooCommerce 127.0.0.1:{ports['woocommerce']} — {state}",
        f"                   see what arrived: curl http://127.0.0.1:{ports['shopify']}/_fake/state",
        f"                   a marketplace order: curl -X POST http://127.0.0.1:{ports['woocommerce']}/_fake/orders "
        """-d '{"lines": [["<sku>", 1, "30.00"]]}'""",
        f"  till           : {linked.till} (device {TILL_DEVICE}) at store-london — POST {base}/api/v1/tills/{linked.till}/sales:batch",
        f"  event feed     : {base}/api/v1/events   (staff session or a key with events:read)",
        f"  webhooks       : omnishop webhooks create --help   (or POST {base}/api/v1/webhooks)",
    ]
    for channel, paths in sorted(linked.feeds.items()):
        lines.append(f"  feeds {channel:9}: " + "  ".join(f"{base}{path}" for path in paths.values()))
    return "\n".join(lines) + "\n"


def banner(result: DemoResult, *, host: str, port: int) -> str:
    base = f"http://{host}:{port}"
    new = {k: v for k, v in result.created.items() if v}
    loaded = (
        ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in new.items()) if new else "nothing new (reused)"
    )
    c = result.counts
    key = result.api_key
    lines = [
        "",
        "Omnishop demo",
        "=============",
        f"  loaded now   : {loaded}",
        f"  in the shop  : {c['channels']} channels, {c['products']} products, {c['variants']} variants, "
        f"{c['suppliers']} suppliers, {c['customers']} customers, {c.get('orders', 0)} past orders",
        "  listings     : " + ", ".join(f"{code} {n}" for code, n in result.listings.items()),
        "",
        f"  Web shop     : {base}/   (checkout with test card 4242 4242 4242 4242)",
        f"  API docs     : {base}/api/v1/docs",
        f"  OpenAPI      : {base}/api/v1/openapi.json",
        f"  Admin        : {base}/admin/",
        f"  Storefront API: {base}/api/v1/storefront/web/products   (also: app, store-london, marketplace-eu)",
        f"  Shipping     : {base}/api/v1/channels/web/shipping-methods?country=GB",
        f"  Health       : {base}/health",
        "",
        "Log-ins",
        f"  staff (admin and API) : {result.staff['username']} / {result.staff['email']}  password: "
        f"{result.staff['password']}",
    ]
    for member in result.role_staff:
        lines.append(
            f"  desk: {member['role']:<19}: {member['username']} / {member['email']}  password: "
            f"{member['password']}  (lands on {base}/admin/ops/)"
        )
    if support_login := next(
        (m for m in result.role_staff if m["username"] == support_demo.AGENT_USERNAME), None
    ):
        lines.append(
            f"  support agent         : {support_login['username']} / {support_login['email']}  password: "
            f"{support_login['password']}  (the desk: {base}{support_demo.DESK_PATH})"
        )
    for shopper in result.shoppers:
        note = (
            ""
            if shopper.get("verified", True)
            else "  (e-mail not proven yet: signing in e-mails a confirmation link, see var/mail/)"
        )
        lines.append(f"  shopper               : {shopper['email']}  password: {shopper['password']}{note}")
    lines += [
        f'  API log-in            : POST {base}/_allauth/app/v1/auth/login  {{"email": …, "password": …}}',
        "                          then send the returned session token as X-Session-Token",
        "",
        f"Channel API key ({key['channel']}; scopes {key['scopes']})",
        f"  {key['secret']}",
        f"  try: curl -H 'Authorization: Bearer {key['secret']}' {base}/api/v1/channels/{key['channel']}",
        f"  (kept in {credentials_path()}, mode 0600)",
        "",
        f"Recommendations and search ({c['events']} behaviour events; model trained at load)",
    ]
    auth = f"curl -H 'Authorization: Bearer {key['secret']}'"
    for label, path in result.examples.items():
        lines.append(f"  {label.replace('_', ' '):15}: {auth} '{base}{path}'")
    lines += [
        "",
        "Try: omnishop customers find-duplicates   (four planted cross-channel duplicates; docs/demo.md)",
        "     omnishop inventory verify            (the stock ledger adds up)",
        "",
    ]
    return "\n".join(lines)
