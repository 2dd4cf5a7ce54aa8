"""Import profiles are data: one TOML file per channel format under datahub/profiles/ (or a directory in
settings.DATAHUB_PROFILE_DIRS), mapping source columns to Omnishop fields with per-field cleaners and
naming the target that writes the cleaned rows. A new channel format is a new file, not new code.

    name = "online_retail"            # what `omnishop import online_retail FILE` and the API call it
    target = "transactions"           # transactions | products | customers | suppliers | supplier_offers
    [reader]                          # reader options: format, delimiter, encoding, sheet, columns ...
    [options]                         # target options: currency, timezone, flavour ...
    [fields.document_no]
    column = "InvoiceNo"              # or columns = [...] (first non-empty wins), or value = constant
    required = true
    clean = ["identifier"]            # cleaner names or {name = "...", option = ...} tables
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from .cleaners import Chain, CleanError, Failure, build_chain, is_empty
from .errors import InvalidProfile, MissingColumns, UnknownProfile

BUILTIN_DIR = Path(__file__).resolve().parent / "profiles"
_MISSING = object()
TARGETS = ("transactions", "products", "customers", "suppliers", "supplier_offers", "stock_levels")


@dataclass
class FieldSpec:
    name: str
    columns: tuple[str, ...]
    required: bool
    constant: Any
    clean: Chain
    steps: list


@dataclass
class Profile:
    name: str
    title: str
    description: str
    target: str
    source: str
    reader: dict
    options: dict
    fields: list[FieldSpec]
    path: Path
    extra_columns: str = "ignore"
    notes: list[str] = field(default_factory=list)

    def required_columns(self) -> set[tuple[str, ...]]:
        return {f.columns for f in self.fields if f.required and f.columns}

    def check_columns(self, header: list[str]) -> list[str]:
        """Raise `missing_columns` when a required field has none of its columns; return the optional
        columns that are absent (reported in the quality report, their fields stay empty)."""
        present = set(header)
        missing = [
            " or ".join(f.columns)
            for f in self.fields
            if f.required and f.columns and not present & set(f.columns)
        ]
        if missing:
            raise MissingColumns(
                f"The file lacks column(s) the '{self.name}' profile requires: {', '.join(missing)}.",
                missing=missing,
                found=header[:100],
            )
        return [" or ".join(f.columns) for f in self.fields if f.columns and not present & set(f.columns)]

    def apply(self, values: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
        """Clean one source row: (Omnishop field -> value, reasons). Every failing field is reported,
        not just the first. This is the per-row hot path: the plan is compiled once per profile, a text
        cell is looked up in its field's memo (cleaned value or remembered failure) before any cleaner
        runs, and only multi-column fields pay for the "first non-empty column" scan."""
        out: dict[str, Any] = {}
        reasons: list[dict] = []
        get = values.get
        for name, column, columns, chain, memo, required, constant in self._plan:
            if column is not None:
                raw = get(column)
            elif columns is None:
                raw = constant
            else:
                raw = None
                for candidate_column in columns:
                    candidate = get(candidate_column)
                    if not is_empty(candidate):
                        raw = candidate
                        break
            if type(raw) is str:
                value = memo.get(raw, _MISSING)
                if value is _MISSING:
                    value = chain.remember(raw)
                if type(value) is Failure:
                    reasons.append({"field": name, "code": value.code, "message": value.message})
                    continue
            else:
                try:
                    value = chain(raw)
                except CleanError as exc:
                    reasons.append({"field": name, "code": exc.code, "message": exc.message})
                    continue
            if value is None:
                if required:
                    reasons.append({"field": name, "code": "required", "message": f"{name} is empty."})
                continue
            out[name] = value
        return out, reasons

    @property
    def _plan(self) -> list[tuple]:
        """(name, single column, several columns, chain, its text memo, required, constant) per field."""
        plan = self.__dict__.get("_compiled_plan")
        if plan is None:
            plan = self.__dict__["_compiled_plan"] = [
                (
                    f.name,
                    f.columns[0] if len(f.columns) == 1 else None,
                    f.columns if len(f.columns) > 1 else None,
                    f.clean,
                    f.clean.memo,
                    f.required,
                    f.constant,
                )
                for f in self.fields
            ]
        return plan

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "target": self.target,
            "source": self.source,
            "format": self.reader.get("format"),
            "fields": [
                {"field": f.name, "columns": list(f.columns), "required": f.required, "clean": f.steps}
                for f in self.fields
            ],
        }


def _profile_dirs() -> list[Path]:
    extra = [Path(p) for p in getattr(settings, "DATAHUB_PROFILE_DIRS", [])]
    return [BUILTIN_DIR, *extra]


def _localise(steps: list, country: str | None) -> list:
    """`{name = "phone", region = "channel"}` takes the job's channel country as the default region."""
    out = []
    for step in steps:
        if isinstance(step, dict) and step.get("region") == "channel":
            step = {**step, "region": country or settings.OMNISHOP_DEFAULT_PHONE_REGION}
        out.append(step)
    return out


def parse_profile(path: Path, *, country: str | None = None) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidProfile(f"{path.name}: not valid TOML ({exc}).") from None
    name = data.get("name") or path.stem
    target = data.get("target")
    if target not in TARGETS:
        raise InvalidProfile(f"{path.name}: target must be one of {', '.join(TARGETS)}.", field="target")
    fields = []
    for field_name, spec in (data.get("fields") or {}).items():
        if isinstance(spec, str):
            spec = {"column": spec}
        columns = tuple(spec.get("columns") or ([spec["column"]] if spec.get("column") else []))
        steps = list(spec.get("clean", []))
        try:
            chain = build_chain(_localise(steps, country))
        except KeyError as exc:
            raise InvalidProfile(f"{path.name}: field {field_name} uses unknown cleaner {exc}.") from None
        if not columns and "value" not in spec:
            raise InvalidProfile(f"{path.name}: field {field_name} needs `column`, `columns` or `value`.")
        fields.append(
            FieldSpec(
                name=field_name,
                columns=columns,
                required=bool(spec.get("required", False)),
                constant=spec.get("value"),
                clean=chain,
                steps=steps,
            )
        )
    return Profile(
        name=name,
        title=data.get("title", name),
        description=data.get("description", ""),
        target=target,
        source=data.get("source", name),
        reader=dict(data.get("reader", {})),
        options=dict(data.get("options", {})),
        fields=fields,
        path=path,
    )


@cache
def _index() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in _profile_dirs():
        for path in sorted(directory.glob("*.toml")):
            found[path.stem] = path
    return found


def get_profile(name: str, *, country: str | None = None) -> Profile:
    """The profile `name`; `country` (the job's channel country) localises channel-dependent cleaners."""
    path = _index().get(name)
    if path is None:
        raise UnknownProfile(
            f"No import profile '{name}'. Known: {', '.join(sorted(_index()))}.", field="profile"
        )
    return parse_profile(path, country=country)


def list_profiles() -> list[Profile]:
    return [parse_profile(path) for _, path in sorted(_index().items())]
