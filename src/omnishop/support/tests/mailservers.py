"""Real mail servers on loopback for the e-mail tests: aiosmtpd (what our replies are sent to) and Dovecot
(the IMAP mailbox a self-hoster's desk polls), each started on a free port with a throwaway configuration."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.received.append(BytesParser(policy=policy.default).parsebytes(envelope.original_content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@pytest.fixture(name="smtp_server")
def smtp_server_fixture(settings):
    """aiosmtpd listening on loopback, with Django's SMTP backend pointed at it."""
    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", free_port())
    controller = Controller(server, hostname=server.host, port=server.port, decode_data=False)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 30
    try:
        yield server
    finally:
        controller.stop()


@dataclass
class Dovecot:
    port: int
    username: str
    password: str


DOVECOT_CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {login_user}
default_internal_group = {login_group}
default_login_user = {login_user}
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@pytest.fixture(scope="session", name="dovecot")
def dovecot_fixture():
    """Dovecot's IMAP server on a free loopback port: one plain-text password user, Maildir in a temp dir."""
    if DOVECOT is None:
        pytest.skip(
            "Debian's dovecot-imapd is not installed (scripts/ensure-system-packages dovecot installs it)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="omnishop-dovecot-"))
    if os.getuid() == 0:  # Dovecot refuses mail access as root: mail and login run as its own users
        mail_user = pwd.getpwnam("dovecot") if _has_user("dovecot") else pwd.getpwnam("nobody")
        login = pwd.getpwnam("dovenull") if _has_user("dovenull") else mail_user
    else:
        mail_user = login = pwd.getpwuid(os.getuid())
    port = free_port()
    for sub in ("run", "state", "home"):
        (workdir / sub).mkdir()
    (workdir / "users").write_text("desk:{PLAIN}mailbox-secret-1\n")
    conf = workdir / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(
            dir=workdir,
            port=port,
            uid=mail_user.pw_uid,
            gid=mail_user.pw_gid,
            login_user=login.pw_name,
            login_group=_group_name(login.pw_gid),
        )
    )
    os.chmod(workdir, 0o755)
    os.chown(workdir / "home", mail_user.pw_uid, mail_user.pw_gid) if os.getuid() == 0 else None
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        log = (workdir / "dovecot.log").read_text() if (workdir / "dovecot.log").exists() else ""
        raise RuntimeError(f"Dovecot did not start: {process.stderr.read().decode()} {log}") from None
    try:
        yield Dovecot(port=port, username="desk", password="mailbox-secret-1")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name
