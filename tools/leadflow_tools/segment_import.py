"""Onboarding a real account: segments and their campaign budgets per channel from a CSV.

`leadflow segments import FILE.csv` reads the file, checks every row (`read_rows`,
`check_rows`), checks the budgets against the channel's account (`check_accounts`), and
only then — with `--apply` — writes everything in one transaction (`apply_plan`). A file
with one bad row writes nothing.

What a channel's budget names look like is the channel's own knowledge, in one place:
the database's `public.ad_channels.budget_name_pattern` when that table exists, else the
channel module's `budget_customer_id` (`leadflow.channels.entry(key).load()`). A new
channel therefore needs no change here.

The CSV (header row, comma-separated, UTF-8), one row per campaign budget:

    industry,region,channel,customer_id,campaign_id,budget_resource_name,min_daily_budget,max_daily_budget
    schilder,noord_brabant,google_ads,1234567890,111,customers/1234567890/campaignBudgets/222,10,150

- `industry`: the industry's slug (`schilder`) or id (UUID); `region`: the province code.
- `channel`: a channel key (`google_ads` when empty).
- `customer_id`: the account holding the budget (Google Ads: 10 digits, dashes allowed);
  `campaign_id`: digits; `budget_resource_name`: the channel's path to the budget
  (Google Ads: `customers/{customer_id}/campaignBudgets/{id}`).
- `min_daily_budget`, `max_daily_budget`: the segment's daily bounds in euro, whole
  cents; the same on every row of a segment.

A segment's campaign mapping becomes exactly the file's rows for it (rows of the
segment not in the file are removed); segments not in the file are left alone.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import psycopg
from leadflow.channels import ChannelGateway, ChannelRequestError, entry
from leadflow.errors import LeadflowError
from leadflow.settings import Settings

COLUMNS = (
    "industry",
    "region",
    "channel",
    "customer_id",
    "campaign_id",
    "budget_resource_name",
    "min_daily_budget",
    "max_daily_budget",
)
REQUIRED = frozenset(COLUMNS) - {"channel"}
DEFAULT_CHANNEL = "google_ads"
MAX_ROWS = 10_000


class ImportRefused(LeadflowError):
    """The file cannot be imported: every reason, each with its row number."""

    cli_code = "import_refused"

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:20]
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__("nothing was written: " + "; ".join(shown) + more)
        self.problems = problems


@dataclass(frozen=True)
class Row:
    """One checked row: a campaign budget of a segment (row numbers as in the file, header 1)."""

    number: int
    industry_id: str
    industry_slug: str
    region_code: str
    channel: str
    customer_id: str
    campaign_id: str
    budget_resource_name: str
    min_daily_budget: Decimal
    max_daily_budget: Decimal

    @property
    def segment_code(self) -> str:
        return f"{self.industry_slug}_{self.region_code}"


@dataclass
class SegmentChange:
    """What the import does to one segment."""

    code: str
    action: str  # create, update, unchanged
    min_daily_budget: Decimal
    max_daily_budget: Decimal
    before: tuple[Decimal, Decimal] | None
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment": self.code,
            "action": self.action,
            "min_daily_budget": float(self.min_daily_budget),
            "max_daily_budget": float(self.max_daily_budget),
            "before": None if self.before is None else [float(v) for v in self.before],
            "budgets_added": self.added,
            "budgets_kept": self.kept,
            "budgets_removed": self.removed,
        }


@dataclass
class AccountCheck:
    """What the account check did, per channel: checked budgets, or why it was skipped."""

    checked: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"account check: {n} budget(s) found on {ch}" for ch, n in self.checked.items()]
        out += [f"account check skipped for {ch}: {why}" for ch, why in self.skipped.items()]
        return out


# --------------------------------------------------------------------------- reading


def read_rows(path: Path) -> list[dict[str, str]]:
    """The file's rows as dicts; the header must name the columns (channel optional)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LeadflowError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LeadflowError(f"{path}: cannot be read as UTF-8 text: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise LeadflowError(f"{path}: empty file; the first line names the columns")
    unknown = [name for name in header if name not in COLUMNS]
    missing = sorted(REQUIRED - set(header))
    if unknown or missing:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s) " + ", ".join(unknown))
        raise LeadflowError(
            f"{path}: {'; '.join(parts)} (columns: {', '.join(COLUMNS)}; channel may be left out)"
        )
    rows = []
    for record in reader:
        cleaned = {(k or "").strip(): (v or "").strip() for k, v in record.items() if k}
        if None in record:
            cleaned["_extra"] = "yes"
        rows.append(cleaned)
        if len(rows) > MAX_ROWS:
            raise LeadflowError(f"{path}: more than {MAX_ROWS} rows; split the file")
    if not rows:
        raise LeadflowError(f"{path}: no rows after the header")
    return rows


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Reference:
    """What the database knows that the rows are checked against."""

    industries: dict[str, tuple[str, str]]  # slug or id -> (id, slug)
    regions: frozenset[str]
    channel_patterns: dict[str, str] | None  # public.ad_channels, when it exists


def load_reference(conn: psycopg.Connection[Any]) -> Reference:
    industries: dict[str, tuple[str, str]] = {}
    for industry_id, slug in conn.execute("select id::text, slug from public.industries"):
        industries[slug] = (industry_id, slug)
        industries[industry_id] = (industry_id, slug)
    regions = frozenset(r for (r,) in conn.execute("select code from public.regions"))
    patterns = None
    if conn.execute("select to_regclass('public.ad_channels') is not null").fetchone() == (True,):
        patterns = {
            key: pattern
            for key, pattern in conn.execute(
                "select key, budget_name_pattern from public.ad_channels"
            )
        }
    return Reference(industries, regions, patterns)


def budget_account(channel: str, name: str, reference: Reference) -> str:
    """The account id a budget name belongs to, as the channel defines its names: it must
    match the database's pattern for the channel (paid channels only), and the account is
    the name's second element, as the database checks (`split_part(name, '/', 2)`); without
    the channels table, the channel module's `budget_customer_id`. ValueError when
    malformed or unknown."""
    if reference.channel_patterns is not None:
        if reference.channel_patterns.get(channel) is None:
            known = ", ".join(sorted(k for k, v in reference.channel_patterns.items() if v))
            raise ValueError(f"unknown paid channel {channel!r} (the database has: {known})")
        pattern = reference.channel_patterns[channel]
        if not re.search(pattern, name):
            raise ValueError(f"{name!r} is not a {channel} budget name ({pattern})")
        return name.split("/")[1]
    try:
        module = entry(channel).load()
    except LookupError as exc:
        raise ValueError(str(exc)) from None
    except ImportError:
        raise ValueError(f"channel {channel!r} is not available in this version") from None
    parse: Callable[[str], str] = module.budget_customer_id
    return parse(name)


def _account_id(channel: str, value: str) -> str:
    """An account id as the channel writes it (Google Ads: dashes dropped)."""
    try:
        normalize = getattr(entry(channel).load(), "normalize_customer_id", None)
    except (LookupError, ImportError):
        normalize = None
    return normalize(value) if normalize else value


def _euros(value: str, column: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{column} {value!r} is not a number of euros") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{column} {value!r} must be 0 or more")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{column} {value!r} is not whole cents")
    if amount >= Decimal("10000000000"):
        raise ValueError(f"{column} {value!r} is too large")
    return amount.quantize(Decimal("0.01"))


def check_rows(records: list[dict[str, str]], reference: Reference) -> list[Row]:
    """Every row checked; ImportRefused with every problem (row numbers as in the file)."""
    problems: list[str] = []
    rows: list[Row] = []
    for index, record in enumerate(records):
        number = index + 2  # the header is line 1
        try:
            rows.append(_check_row(number, record, reference))
        except ValueError as exc:
            problems.append(f"row {number}: {exc}")
    problems += _cross_checks(rows)
    if problems:
        raise ImportRefused(problems)
    return rows


def _check_row(number: int, record: dict[str, str], reference: Reference) -> Row:
    if record.get("_extra"):
        raise ValueError("more cells than columns")
    industry = reference.industries.get(record["industry"]) or reference.industries.get(
        record["industry"].lower()
    )
    if industry is None:
        raise ValueError(f"unknown industry {record['industry']!r} (a slug or an id)")
    region = record["region"].lower()
    if region not in reference.regions:
        raise ValueError(f"unknown region {record['region']!r} (a province code)")
    channel = record.get("channel") or DEFAULT_CHANNEL
    name = record["budget_resource_name"]
    if not name:
        raise ValueError("budget_resource_name is empty")
    account = budget_account(channel, name, reference)
    customer_id = _account_id(channel, record["customer_id"])
    if not re.fullmatch(r"[0-9A-Za-z]+", customer_id or ""):
        raise ValueError(f"customer_id {record['customer_id']!r} is not an account id")
    if account and account != customer_id:
        raise ValueError(f"budget {name} is in account {account}, not customer_id {customer_id}")
    if not re.fullmatch(r"[0-9]+", record["campaign_id"]):
        raise ValueError(f"campaign_id {record['campaign_id']!r} is not digits")
    low = _euros(record["min_daily_budget"], "min_daily_budget")
    high = _euros(record["max_daily_budget"], "max_daily_budget")
    if high <= 0:
        raise ValueError("max_daily_budget must be more than 0")
    if low > high:
        raise ValueError(f"min_daily_budget {low} is above max_daily_budget {high}")
    return Row(
        number, industry[0], industry[1], region, channel, customer_id, record["campaign_id"],
        name, low, high,
    )  # fmt: skip


def _cross_checks(rows: list[Row]) -> list[str]:
    problems: list[str] = []
    budgets: dict[str, int] = {}
    campaigns: dict[tuple[str, str, str], int] = {}
    bounds: dict[str, tuple[int, Decimal, Decimal]] = {}
    for row in rows:
        first = budgets.setdefault(row.budget_resource_name, row.number)
        if first != row.number:
            problems.append(
                f"row {row.number}: budget {row.budget_resource_name} is also on row {first}"
            )
        key = (row.channel, row.customer_id, row.campaign_id)
        first = campaigns.setdefault(key, row.number)
        if first != row.number:
            problems.append(f"row {row.number}: campaign {row.campaign_id} is also on row {first}")
        seen = bounds.setdefault(
            row.segment_code, (row.number, row.min_daily_budget, row.max_daily_budget)
        )
        if (seen[1], seen[2]) != (row.min_daily_budget, row.max_daily_budget):
            problems.append(
                f"row {row.number}: {row.segment_code} has other budget bounds on row {seen[0]}"
                f" ({seen[1]}..{seen[2]}); a segment has one min and max"
            )
    return problems


def check_accounts(
    rows: Iterable[Row], gateways: dict[str, ChannelGateway | None], missing: dict[str, list[str]]
) -> AccountCheck:
    """Each budget must exist in its account and be one the orchestrator may change (no
    `skip_reason`: not shared, daily). A channel without credentials is skipped, and said."""
    check = AccountCheck()
    by_channel: dict[str, list[Row]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    problems: list[str] = []
    for channel, channel_rows in by_channel.items():
        gateway = gateways.get(channel)
        if gateway is None:
            need = ", ".join(missing.get(channel) or []) or "credentials"
            check.skipped[channel] = f"no credentials configured ({need})"
            continue
        try:
            found = gateway.current_budgets([r.budget_resource_name for r in channel_rows])
        except ChannelRequestError as exc:
            raise LeadflowError(f"the {channel} account check failed: {exc}") from None
        for row in channel_rows:
            info = found.get(row.budget_resource_name)
            if info is None:
                problems.append(
                    f"row {row.number}: budget {row.budget_resource_name} does not exist in "
                    f"{channel} account {row.customer_id}"
                )
            elif info.skip_reason is not None:
                problems.append(
                    f"row {row.number}: budget {row.budget_resource_name} cannot be steered: "
                    f"{info.skip_reason}"
                )
        check.checked[channel] = len(channel_rows)
    if problems:
        raise ImportRefused(problems)
    return check


def gateways_for(rows: Iterable[Row], settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The real gateway of each channel in `rows` (None without credentials), and what each
    still needs."""
    gateways: dict[str, ChannelGateway | None] = {}
    missing: dict[str, list[str]] = {}
    for channel in {row.channel for row in rows}:
        item = entry(channel)
        gateways[channel] = item.gateway(settings)
        missing[channel] = item.missing(settings)
    return gateways, missing


# --------------------------------------------------------------------------- planning


def plan_changes(conn: psycopg.Connection[Any], rows: list[Row]) -> list[SegmentChange]:
    """What the import would do, segment by segment; ImportRefused when a budget or
    campaign already belongs to a segment that is not the row's."""
    segments: dict[str, SegmentChange] = {}
    existing = {
        code: (segment_id, low, high)
        for segment_id, code, low, high in conn.execute(
            "select id::text, code, min_daily_budget, max_daily_budget from public.lead_segments"
        )
    }
    mapped: dict[str, list[str]] = {}
    owner_of_budget: dict[str, str] = {}
    owner_of_campaign: dict[tuple[str, str], str] = {}
    for code, name, customer_id, campaign_id in conn.execute(
        "select s.code, b.budget_resource_name, b.customer_id, b.campaign_id "
        "from public.segment_campaign_budgets b join public.lead_segments s on s.id = b.segment_id"
    ):
        mapped.setdefault(code, []).append(name)
        owner_of_budget[name] = code
        owner_of_campaign[(customer_id, campaign_id)] = code
    problems = []
    for row in rows:
        code = row.segment_code
        owner = owner_of_budget.get(row.budget_resource_name)
        if owner is not None and owner != code:
            problems.append(
                f"row {row.number}: budget {row.budget_resource_name} belongs to segment {owner}"
            )
        owner = owner_of_campaign.get((row.customer_id, row.campaign_id))
        if owner is not None and owner != code:
            problems.append(
                f"row {row.number}: campaign {row.campaign_id} belongs to segment {owner}"
            )
        change = segments.get(code)
        if change is None:
            before = existing.get(code)
            bounds = None if before is None else (Decimal(before[1]), Decimal(before[2]))
            action = (
                "create"
                if before is None
                else (
                    "unchanged"
                    if bounds == (row.min_daily_budget, row.max_daily_budget)
                    else "update"
                )
            )
            change = segments[code] = SegmentChange(
                code, action, row.min_daily_budget, row.max_daily_budget, bounds
            )
        change.rows.append(row)
    if problems:
        raise ImportRefused(problems)
    for code, change in segments.items():
        wanted = [r.budget_resource_name for r in change.rows]
        have = mapped.get(code, [])
        change.added = [n for n in wanted if n not in have]
        change.kept = [n for n in wanted if n in have]
        change.removed = sorted(n for n in have if n not in wanted)
        if change.action == "unchanged" and (change.added or change.removed):
            change.action = "update"
    return sorted(segments.values(), key=lambda c: c.code)


# --------------------------------------------------------------------------- writing


def apply_plan(conn: psycopg.Connection[Any], changes: list[SegmentChange]) -> int:
    """Write every change in one transaction, as the database owner: plain statements,
    so every check and unique constraint of the tables stays in force. Returns the
    leads assigned to the new segments."""
    has_channel = conn.execute(
        "select exists (select 1 from information_schema.columns where table_schema = 'public' "
        "and table_name = 'segment_campaign_budgets' and column_name = 'channel')"
    ).fetchone() == (True,)
    assigned = 0
    with conn.transaction():
        for change in changes:
            first = change.rows[0]
            segment_id = conn.execute(
                """
                insert into public.lead_segments
                  (id, code, name, industry_id, region_code, min_daily_budget, max_daily_budget)
                select %(id)s, %(code)s, i.name || ' ' || r.name, i.id, r.code, %(low)s, %(high)s
                from public.industries i, public.regions r
                where i.id = %(industry)s and r.code = %(region)s
                on conflict (code) do update
                  set min_daily_budget = excluded.min_daily_budget,
                      max_daily_budget = excluded.max_daily_budget
                returning id
                """,
                {
                    "id": str(uuid.uuid4()),
                    "code": change.code,
                    "industry": first.industry_id,
                    "region": first.region_code,
                    "low": change.min_daily_budget,
                    "high": change.max_daily_budget,
                },
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "delete from public.segment_campaign_budgets "
                "where segment_id = %s and not (budget_resource_name = any (%s))",
                (segment_id, [r.budget_resource_name for r in change.rows]),
            )
            for row in change.rows:
                columns = "segment_id, customer_id, campaign_id, budget_resource_name"
                values = "%(segment)s, %(customer)s, %(campaign)s, %(budget)s"
                if has_channel:
                    columns += ", channel"
                    values += ", %(channel)s"
                conn.execute(
                    f"insert into public.segment_campaign_budgets ({columns}) values ({values}) "
                    "on conflict (budget_resource_name) do update "
                    "set customer_id = excluded.customer_id, campaign_id = excluded.campaign_id, "
                    "is_active = true",
                    {
                        "segment": segment_id,
                        "customer": row.customer_id,
                        "campaign": row.campaign_id,
                        "budget": row.budget_resource_name,
                        "channel": row.channel,
                    },
                )
            if change.action == "create":
                span = conn.execute(
                    "select min((l.created_at at time zone 'Europe/Amsterdam')::date), "
                    "max((l.created_at at time zone 'Europe/Amsterdam')::date) "
                    "from public.leads l where l.industry_id = %s and l.region_code = %s "
                    "and l.segment_id is null",
                    (first.industry_id, first.region_code),
                ).fetchone()
                if span is not None and span[0] is not None:
                    (count,) = conn.execute(
                        "select public.assign_lead_segments(%s, %s)", span
                    ).fetchone()  # type: ignore[misc]
                    assigned += int(count)
    return assigned
