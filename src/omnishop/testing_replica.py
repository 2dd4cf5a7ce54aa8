"""A throwaway streaming read replica of a running PostgreSQL server, for the tests and the benchmark.

`start_replica()` takes a base backup of the primary with `pg_basebackup -R` (Debian's binaries under
/usr/lib/postgresql/*/bin) and starts it on a free port, as the same OS user as the primary runs: `postgres`
when we are root (as scripts/pg-start does), else ourselves. The primary needs wal_level replica or logical
and a replication entry in pg_hba.conf (scripts/pg-start's server has both: initdb's defaults, trust auth).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def server_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    return found[-1] if found and (found[-1] / "pg_basebackup").exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user(command: list[str]) -> None:
    """Run a server command as the primary runs: as `postgres` when we are root."""
    line = shlex.join(command)
    argv = ["su", "postgres", "-s", "/bin/sh", "-c", line] if os.geteuid() == 0 else ["sh", "-c", line]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{line} failed: {done.stdout}{done.stderr}")


def until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the replica did not get there in time")
        time.sleep(0.02)


@dataclass
class Replica:
    bindir: Path
    home: Path
    port: int
    user: str

    @property
    def data(self) -> Path:
        return self.home / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={dbname}"

    def sql(self, statement: str):
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            return conn.execute(statement).fetchone()

    def pause(self) -> None:
        """Stop replaying WAL (it is still received): the replica falls behind the primary's writes."""
        self.sql("SELECT pg_wal_replay_pause()")
        until(lambda: self.sql("SELECT pg_get_wal_replay_pause_state()")[0] == "paused")

    def resume(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def caught_up_with(self, primary_flush_lsn: str) -> None:
        """Wait until the replica has replayed the primary's WAL up to `primary_flush_lsn`."""
        until(lambda: self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{primary_flush_lsn}'::pg_lsn")[0])

    def ctl(self, *args: str) -> None:
        as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.data), *args])

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        self.ctl("-l", str(self.home / "server.log"), "-w", "-t", "60", "-o", options, "start")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "stop")

    def remove(self) -> None:
        """Stop the server if it runs and delete its files."""
        if self.running:
            with contextlib.suppress(RuntimeError):  # already gone
                self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)


def start_replica(*, host: str, port: int | str, user: str) -> Replica:
    """A running hot standby of the server at host:port, streaming from it (every database of the server)."""
    bindir = server_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (pg_basebackup) are not installed")
    home = Path(tempfile.mkdtemp(prefix="omnishop-replica-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    replica = Replica(bindir, home, free_port(), user)
    try:
        source = ["-h", host, "-p", str(port), "-U", user]
        # -R: standby.signal and primary_conninfo; -X stream: the WAL of the copy itself; no fsync (throwaway)
        target = ["-D", str(replica.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"]
        as_server_user([str(bindir / "pg_basebackup"), *source, *target])
        replica.start()
    except BaseException:
        replica.remove()
        raise
    return replica
