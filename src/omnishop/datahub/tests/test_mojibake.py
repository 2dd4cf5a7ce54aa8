"""Mixed encodings: a UTF-8 row inside a file read as Windows-1252 ("CAFÃ‰"), or mojibake already in a
UTF-8 file, is repaired per row and reported in the job's quality report (count and examples)."""

from __future__ import annotations

import pytest

from omnishop.datahub.models import StagedTransactionLine

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def line(sku: str, description: str) -> str:
    return f"536365,{sku},{description},6,2010-12-01 08:26:00,2.55,17850.0,France\n"


def descriptions() -> dict[str, str]:
    return dict(StagedTransactionLine.objects.values_list("sku", "description"))


def test_a_utf8_row_in_a_windows_1252_file_is_repaired_and_reported(run_import, retail_channel):
    data = (
        HEADER.encode()
        + line("22001", "CRÈME BRÛLÉE SET").encode("cp1252")
        + line("22002", "PÂTISSERIE TIN À GÂTEAU").encode("cp1252")
        + line("22003", "CAFÉ CRÈME MUG").encode("utf-8")  # pasted from another, UTF-8, export
        + line("22004", "ŁÓDŹ TEA TOWEL").encode("utf-8")  # Ł is C5 81: 0x81 is no Windows-1252 character
        + line("22005", "NAÏVE GARÇON CUP").encode("cp1252")
    )
    job = run_import("online_retail", data, channel=retail_channel)
    assert job.encoding == "cp1252"
    assert (job.imported, job.quarantined) == (5, 0)
    assert descriptions() == {
        "22001": "CRÈME BRÛLÉE SET",
        "22002": "PÂTISSERIE TIN À GÂTEAU",
        "22003": "CAFÉ CRÈME MUG",
        "22004": "ŁÓDŹ TEA TOWEL",
        "22005": "NAÏVE GARÇON CUP",
    }
    report = job.quality["mojibake_repaired"]
    assert report["rows"] == 2
    assert report["examples"][0] == {
        "line": 4,
        "column": "Description",
        "read": "CAFÃ‰ CRÃˆME MUG",
        "repaired": "CAFÉ CRÈME MUG",
    }
    assert report["examples"][1] == {
        "line": 5,
        "column": "Description",
        "read": "Å\\x81Ã“DÅ¹ TEA TOWEL",  # the byte Windows-1252 has no character for, shown as \x81
        "repaired": "ŁÓDŹ TEA TOWEL",
    }


def test_mojibake_already_in_a_utf8_file_is_repaired_and_clean_accents_are_left_alone(
    run_import, retail_channel
):
    data = (HEADER + line("22003", "CAFÃ‰ CRÃˆME MUG") + line("22006", "SÃO PAULO CAFÉ SIGN")).encode()
    data += line("22007", "São Paulo café sign").encode()
    job = run_import("online_retail", data, channel=retail_channel)
    assert job.encoding == "utf-8"
    found = descriptions()
    assert found["22003"] == "CAFÉ CRÈME MUG"
    assert found["22006"] == "SÃO PAULO CAFÉ SIGN"  # Portuguese capitals that only look like mojibake
    assert found["22007"] == "São Paulo café sign"
    assert job.quality["mojibake_repaired"]["rows"] == 1
