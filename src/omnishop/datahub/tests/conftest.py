"""Data hub test helpers: write a file, import it through a profile, check the job's accounting."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from omnishop.datahub import services
from omnishop.datahub.models import ImportJob

DATASETS = Path(__file__).resolve().parents[4].parent / "shared" / "datasets"


def assert_balanced(job: ImportJob) -> None:
    """The accounting invariant every job must satisfy."""
    job.refresh_from_db()
    assert job.rows_read == job.imported + job.updated + job.unchanged + job.merged + job.quarantined, (
        job.rows_read,
        job.imported,
        job.updated,
        job.unchanged,
        job.merged,
        job.quarantined,
    )
    # A row already in quarantine from an earlier job is counted again, as a sighting of its open entry.
    assert job.quarantined == job.quarantined_rows.count() + job.quarantine_sightings.count()


def dataset(*parts: str) -> Path:
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared dataset {path} not available")
    return path


def head_of_gzip(path: Path, lines: int) -> bytes:
    """The first `lines` lines (header included) of a gzip file: a small real slice for a fast test."""
    out = []
    with gzip.open(path, "rb") as handle:
        for _ in range(lines):
            line = handle.readline()
            if not line:
                break
            out.append(line)
    return b"".join(out)


@pytest.fixture
def datahub_dirs(tmp_path, settings):
    settings.OMNISHOP_DATAHUB_UPLOAD_DIR = tmp_path / "uploads"
    settings.OMNISHOP_DATAHUB_IMPORT_ROOTS = [str(tmp_path / "inbox")]
    (tmp_path / "inbox").mkdir()
    return tmp_path


@pytest.fixture
def run_import(datahub_dirs, db):
    """run_import(profile, data: bytes | Path, name=..., channel=...) -> the finished, balanced job."""

    def run(profile: str, data, *, name: str = "data.csv", channel=None, options=None) -> ImportJob:
        if isinstance(data, Path):
            path = data
        else:
            path = datahub_dirs / name
            path.write_bytes(data)
        job = services.import_files(profile=profile, paths=[path], channel=channel, options=options)[0]
        assert_balanced(job)
        return job

    return run


@pytest.fixture
def retail_channel(make_channel):
    return make_channel("retail", "web", "GBP", country="GB")
