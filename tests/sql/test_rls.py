"""Who may do what to which table: RLS, grants and triggers, as each API role.

DESIGN.md, "Roles and what each may see": anon nothing; a partner reads active
segments, and plans and lead counts of the segments it actively subscribes to,
never money and never the orchestration log or job runs; an admin reads what it
is granted and is the only signed-in user who writes segments; the service role
does what the jobs need; the orchestration log is append-only for everyone.

Every statement runs as PostgREST would run it (`as_user`) in a transaction
that is rolled back, on one seeded database per module: a refused write raises
42501 (insufficient privilege), a row hidden by RLS is simply not there.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from conftest import (
    ADMIN_ID,
    PARTNER_BRABANT_ID,
    PARTNER_PAUSED_ID,
    PARTNER_UTRECHT_ID,
    SEEDED_TEMPLATE,
    PgCluster,
    as_user,
)
from psycopg.errors import InsufficientPrivilege

# From supabase/seed.sql.
PARTNER_LOODGIETER_ID = "00000000-0000-4000-8000-000000000013"  # loodgieter, 3 provinces
PARTNER_DAKDEKKER_ID = "00000000-0000-4000-8000-000000000014"  # dakdekker, noord_brabant
SCHILDER = "00000000-0000-4000-8001-000000000001"
SUB_BRABANT = "00000000-0000-4000-8003-000000000001"  # PARTNER_BRABANT's, schilder noord_brabant
SUB_PAUSED = "00000000-0000-4000-8003-000000000005"  # PARTNER_PAUSED's, dakdekker utrecht
SEG = "00000000-0000-4000-8002-000000000011"  # schilder_noord_brabant
SEG_DAKDEKKER_UTRECHT = "00000000-0000-4000-8002-000000000032"
DAY = "2026-11-20"

# Rows this module adds to the seed.
INDUSTRY = "00000000-0000-4000-8009-000000000001"
NEW_USER = "00000000-0000-4000-8009-000000000002"
LEAD_BOUGHT = "00000000-0000-4000-8009-000000000003"  # bought by PARTNER_BRABANT
SEG_NEW = "00000000-0000-4000-8009-000000000004"  # schilder_groningen: nobody subscribes
CAMPAIGN_BUDGET = "00000000-0000-4000-8009-000000000005"
LOG_RUN = "00000000-0000-4000-8009-000000000006"
JOB_RUN = "00000000-0000-4000-8009-000000000007"
CHANNEL = "rls_channel"  # an organic channel
RULE = 990  # its attribution rule

SETUP = f"""
insert into public.industries (id, slug, name) values ('{INDUSTRY}', 'stukadoor', 'Stukadoor');
insert into auth.users (id, email) values ('{NEW_USER}', 'new-partner@partners.example');
insert into public.leads (id, industry_id, region_code, status, price, partner_id)
  values ('{LEAD_BOUGHT}', '{SCHILDER}', 'noord_brabant', 'accepted', 18.50, '{PARTNER_BRABANT_ID}');
insert into public.lead_segments (id, code, name, industry_id, region_code, max_daily_budget)
  values ('{SEG_NEW}', 'schilder_groningen', 'Schilder Groningen', '{SCHILDER}', 'groningen', 50);
insert into public.segment_campaign_budgets
  (id, segment_id, customer_id, campaign_id, budget_resource_name)
  values ('{CAMPAIGN_BUDGET}', '{SEG}', '1234567890', '7777',
          'customers/1234567890/campaignBudgets/7777');
insert into public.lead_generation_stats
  (segment_id, day, leads_generated, leads_accepted, leads_paid, revenue, ad_spend,
   ad_clicks, ad_impressions, ad_conversions, cpl, active_partners, total_capacity)
  values ('{SEG}', '{DAY}', 4, 4, 4, 74.00, 50.00, 120, 3000, 4, 12.50, 1, 5.45);
insert into public.lead_segment_plans
  (segment_id, day, capacity, acceptance_rate, target_leads)
  values ('{SEG}', '{DAY}', 5.45, 0.7, 7.79);
set session_replication_role = replica;  -- a live row of a past day, as the job left it
insert into public.channel_orchestration_log
  (run_id, day, segment_id, customer_id, campaign_id, budget_resource_name, action,
   old_amount_micros, new_amount_micros, change_pct, expected_gap, reason, mode, triggered_by)
  values ('{LOG_RUN}', '{DAY}', '{SEG}', '1234567890', '7777',
          'customers/1234567890/campaignBudgets/7777', 'increase', 40000000, 48000000, 20, 3.79,
          'under target', 'live', 'rls test');
set session_replication_role = origin;
insert into public.public_holidays (day, name) values ('2026-12-25', 'Eerste Kerstdag')
  on conflict (day) do nothing;
insert into public.ad_campaign_daily_metrics (customer_id, campaign_id, day, cost_micros)
  values ('1234567890', '7777', '{DAY}', 42000000);
insert into public.orchestration_settings_history (old_settings, new_settings)
  values ('{{}}', '{{"account_daily_cap": 900}}');
insert into public.industry_economics (industry_id, min_margin) values ('{SCHILDER}', 0.25);
insert into public.segment_response_estimates
  (segment_id, channel, day, lead_value_source, elasticity, elasticity_sd, pooled_elasticity)
  values ('{SEG}', 'google_ads', '{DAY}', 'none', 0.5, 0.1, 0.5);
insert into public.job_runs (id, job, day, triggered_by)
  values ('{JOB_RUN}', 'aggregate', '{DAY}', 'rls test');
insert into public.ad_channels (key, label, is_paid) values ('{CHANNEL}', 'RLS test', false);
insert into public.channel_attribution_rules (priority, channel, utm_mediums, note)
  values ({RULE}, 'other', array['rls'], 'rls test');
insert into public.lead_channel_stats
  (segment_id, day, channel, leads_generated, leads_accepted, revenue, spend, clicks, impressions,
   conversions)
  values ('{SEG}', '{DAY}', 'google_ads', 4, 4, 74.00, 50.00, 120, 3000, 4);
"""


@pytest.fixture(scope="module")
def rls_db_url(pg_cluster: PgCluster) -> Iterator[str]:
    """One seeded database (plus SETUP) for the module; every test rolls back."""
    name = pg_cluster.create(SEEDED_TEMPLATE)
    url = pg_cluster.url(name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SETUP)
        yield url
    finally:
        pg_cluster.drop(name)


@pytest.fixture
def conn(rls_db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A transaction on the module's database as the superuser, rolled back afterwards."""
    with psycopg.connect(rls_db_url) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


@dataclass(frozen=True)
class Actor:
    """Who a request runs as: a JWT's role and subject."""

    name: str
    user_id: str | None
    role: str


ANON = Actor("anon", None, "anon")
# For a baseline table "subscriber" is the owner of the row, "outsider" another partner.
OUTSIDER = Actor("partner without subscription", PARTNER_UTRECHT_ID, "authenticated")
SUBSCRIBER = Actor("partner with subscription", PARTNER_BRABANT_ID, "authenticated")
ADMIN = Actor("admin", ADMIN_ID, "authenticated")
SERVICE = Actor("service_role", None, "service_role")
ACTORS = (ANON, OUTSIDER, SUBSCRIBER, ADMIN, SERVICE)


class Outcome(enum.Enum):
    ALLOWED = "allowed"  # the statement reads or changes the row
    HIDDEN = "hidden"  # RLS hides the row: no error, no row
    DENIED = "denied"  # refused: 42501


A, H, D = Outcome.ALLOWED, Outcome.HIDDEN, Outcome.DENIED


def run(conn: psycopg.Connection[Any], actor: Actor, statement: str) -> int:
    """Run `statement` as `actor`; the rows it returned or changed."""
    as_user(conn, actor.user_id, actor.role)
    cur = conn.execute(statement)
    return len(cur.fetchall()) if cur.description else cur.rowcount


def assert_outcome(
    conn: psycopg.Connection[Any], actor: Actor, statement: str, expected: Outcome
) -> None:
    if expected is D:
        with pytest.raises(InsufficientPrivilege):
            run(conn, actor, statement)
    else:
        assert run(conn, actor, statement) == (1 if expected is A else 0)


# One target row per table (from the seed or SETUP) and a statement per operation.
STATEMENTS: dict[str, dict[str, str]] = {
    "orchestration_settings_history": {
        # The row SETUP wrote (migrations that move a default are audited too).
        "select": (
            "select id from public.orchestration_settings_history"
            " where new_settings = '{\"account_daily_cap\": 900}'"
        ),
        "insert": (
            "insert into public.orchestration_settings_history (old_settings, new_settings)"
            " values ('{}', '{}')"
        ),
        "update": "update public.orchestration_settings_history set old_settings = old_settings",
        "delete": "delete from public.orchestration_settings_history",
    },
    "industry_economics": {
        "select": f"select industry_id from public.industry_economics where industry_id = '{SCHILDER}'",
        "insert": (
            "insert into public.industry_economics (industry_id, min_margin)"
            f" values ('{INDUSTRY}', 0.1)"
        ),
        "update": (
            "update public.industry_economics set min_margin = min_margin"
            f" where industry_id = '{SCHILDER}'"
        ),
        "delete": f"delete from public.industry_economics where industry_id = '{SCHILDER}'",
    },
    "segment_response_estimates": {
        "select": f"select day from public.segment_response_estimates where segment_id = '{SEG}'",
        "insert": (
            "insert into public.segment_response_estimates (segment_id, channel, day,"
            " lead_value_source, elasticity, elasticity_sd, pooled_elasticity)"
            f" values ('{SEG}', 'google_ads', '2026-11-21', 'none', 0.5, 0.1, 0.5)"
        ),
        "update": (
            f"update public.segment_response_estimates set scale = scale where segment_id = '{SEG}'"
        ),
        "delete": f"delete from public.segment_response_estimates where segment_id = '{SEG}'",
    },
    "public_holidays": {
        "select": "select day from public.public_holidays where day = '2026-12-25'",
        "insert": "insert into public.public_holidays (day, name) values ('2026-12-31', 'Oud')",
        "update": "update public.public_holidays set name = name where day = '2026-12-25'",
        "delete": "delete from public.public_holidays where day = '2026-12-25'",
    },
    "ad_campaign_daily_metrics": {
        "select": "select day from public.ad_campaign_daily_metrics where campaign_id = '7777'",
        "insert": (
            "insert into public.ad_campaign_daily_metrics (customer_id, campaign_id, day)"
            " values ('1234567890', '7778', '2026-11-20')"
        ),
        "update": (
            "update public.ad_campaign_daily_metrics set clicks = clicks where campaign_id = '7777'"
        ),
        "delete": "delete from public.ad_campaign_daily_metrics where campaign_id = '7777'",
    },
    "orchestration_settings": {
        "select": "select id from public.orchestration_settings",
        "insert": "insert into public.orchestration_settings (id) values (true)",
        "update": "update public.orchestration_settings set changes_enabled = changes_enabled",
        "delete": "delete from public.orchestration_settings",
    },
    "regions": {
        "select": "select code from public.regions where code = 'zeeland'",
        "insert": "insert into public.regions (code, name) values ('atlantis', 'Atlantis')",
        "update": "update public.regions set name = name where code = 'zeeland'",
        "delete": "delete from public.regions where code = 'zeeland'",
    },
    "industries": {
        "select": f"select id from public.industries where id = '{INDUSTRY}'",
        "insert": "insert into public.industries (slug, name) values ('tegelzetter', 'Tegelzetter')",
        "update": f"update public.industries set name = name where id = '{INDUSTRY}'",
        "delete": f"delete from public.industries where id = '{INDUSTRY}'",
    },
    "profiles": {
        "select": f"select id from public.profiles where id = '{PARTNER_BRABANT_ID}'",
        "insert": f"insert into public.profiles (id) values ('{NEW_USER}')",
        "update": f"update public.profiles set role = 'admin' where id = '{PARTNER_BRABANT_ID}'",
        "delete": f"delete from public.profiles where id = '{PARTNER_BRABANT_ID}'",
    },
    "subscriptions": {
        "select": f"select id from public.subscriptions where id = '{SUB_BRABANT}'",
        "insert": (
            "insert into public.subscriptions (partner_id, industry_id, region_codes,"
            f" monthly_lead_quota) values ('{PARTNER_BRABANT_ID}', '{SCHILDER}', '{{utrecht}}', 10)"
        ),
        "update": (
            f"update public.subscriptions set monthly_lead_quota = 1000 where id = '{SUB_BRABANT}'"
        ),
        "delete": f"delete from public.subscriptions where id = '{SUB_BRABANT}'",
    },
    "leads": {
        "select": f"select id from public.leads where id = '{LEAD_BOUGHT}'",
        "insert": (
            "insert into public.leads (industry_id, region_code)"
            f" values ('{SCHILDER}', 'noord_brabant')"
        ),
        "update": f"update public.leads set status = 'rejected' where id = '{LEAD_BOUGHT}'",
        "delete": f"delete from public.leads where id = '{LEAD_BOUGHT}'",
    },
    "lead_segments": {
        "select": f"select id, code, name, is_active from public.lead_segments where id = '{SEG_NEW}'",
        "insert": (
            "insert into public.lead_segments (code, name, industry_id, region_code,"
            " min_daily_budget, max_daily_budget)"
            f" values ('schilder_drenthe', 'Schilder Drenthe', '{SCHILDER}', 'drenthe', 5, 40)"
        ),
        "update": f"update public.lead_segments set max_daily_budget = 60 where id = '{SEG_NEW}'",
        "delete": f"delete from public.lead_segments where id = '{SEG_NEW}'",
    },
    "segment_campaign_budgets": {
        "select": f"select id from public.segment_campaign_budgets where id = '{CAMPAIGN_BUDGET}'",
        "insert": (
            "insert into public.segment_campaign_budgets"
            " (segment_id, customer_id, campaign_id, budget_resource_name)"
            f" values ('{SEG}', '1234567890', '8888', 'customers/1234567890/campaignBudgets/8888')"
        ),
        "update": (
            "update public.segment_campaign_budgets set is_active = false"
            f" where id = '{CAMPAIGN_BUDGET}'"
        ),
        "delete": f"delete from public.segment_campaign_budgets where id = '{CAMPAIGN_BUDGET}'",
    },
    "lead_generation_stats": {
        "select": (
            "select segment_id, day, leads_generated from public.lead_generation_stats"
            f" where segment_id = '{SEG}' and day = '{DAY}'"
        ),
        "insert": (
            "insert into public.lead_generation_stats (segment_id, day)"
            f" values ('{SEG}', date '{DAY}' + 1)"
        ),
        "update": (
            "update public.lead_generation_stats set leads_generated = leads_generated"
            f" where segment_id = '{SEG}' and day = '{DAY}'"
        ),
        "delete": (
            f"delete from public.lead_generation_stats where segment_id = '{SEG}' and day = '{DAY}'"
        ),
    },
    "lead_segment_days": {
        # A view (plan, stats and the latest decision): read-only, money, service role only.
        "select": f"select segment_id from public.lead_segment_days where segment_id = '{SEG}'",
    },
    "lead_segment_plans": {
        "select": (
            "select segment_id, day, target_leads, lead_gap from public.lead_segment_plans"
            f" where segment_id = '{SEG}' and day = '{DAY}'"
        ),
        "insert": (
            "insert into public.lead_segment_plans (segment_id, day, target_leads)"
            f" values ('{SEG}', date '{DAY}' + 1, 3)"
        ),
        "update": (
            "update public.lead_segment_plans set target_leads = 100"
            f" where segment_id = '{SEG}' and day = '{DAY}'"
        ),
        "delete": (
            f"delete from public.lead_segment_plans where segment_id = '{SEG}' and day = '{DAY}'"
        ),
    },
    "channel_orchestration_log": {
        "select": f"select id from public.channel_orchestration_log where run_id = '{LOG_RUN}'",
        "insert": (
            "insert into public.channel_orchestration_log"
            " (day, segment_id, action, reason, mode, triggered_by, status, error, completed_at)"
            f" values ('{DAY}', '{SEG}', 'hold', 'gap inside the dead-band', 'dry_run', 'rls test',"
            " 'skipped', 'hold', now())"
        ),
        "update": (
            "update public.channel_orchestration_log set status = 'skipped', error = 'not sent',"
            f" completed_at = now() where run_id = '{LOG_RUN}'"
        ),
        "delete": f"delete from public.channel_orchestration_log where run_id = '{LOG_RUN}'",
    },
    "ad_channels": {
        "select": f"select key from public.ad_channels where key = '{CHANNEL}'",
        "insert": (
            "insert into public.ad_channels (key, label, is_paid)"
            " values ('newsletter', 'Newsletter', false)"
        ),
        "update": f"update public.ad_channels set label = 'Renamed' where key = '{CHANNEL}'",
        "delete": f"delete from public.ad_channels where key = '{CHANNEL}'",
    },
    "channel_attribution_rules": {
        "select": f"select priority from public.channel_attribution_rules where priority = {RULE}",
        "insert": (
            "insert into public.channel_attribution_rules (priority, channel, utm_mediums)"
            f" values ({RULE + 1}, 'other', array['referral'])"
        ),
        "update": (
            f"update public.channel_attribution_rules set note = 'renamed' where priority = {RULE}"
        ),
        "delete": f"delete from public.channel_attribution_rules where priority = {RULE}",
    },
    "lead_channel_stats": {
        "select": (
            "select segment_id, day, channel, leads_generated from public.lead_channel_stats"
            f" where segment_id = '{SEG}' and day = '{DAY}'"
        ),
        "insert": (
            "insert into public.lead_channel_stats (segment_id, day, channel)"
            f" values ('{SEG}', date '{DAY}' + 1, 'seo')"
        ),
        "update": (
            "update public.lead_channel_stats set leads_generated = leads_generated"
            f" where segment_id = '{SEG}' and day = '{DAY}'"
        ),
        "delete": (
            f"delete from public.lead_channel_stats where segment_id = '{SEG}' and day = '{DAY}'"
        ),
    },
    "lead_segment_channel_days": {
        # A view (the day per paid channel): read-only, money, service role only.
        "select": (
            "select segment_id from public.lead_segment_channel_days"
            f" where segment_id = '{SEG}' and day = '{DAY}'"
        ),
    },
    "job_runs": {
        "select": f"select id from public.job_runs where id = '{JOB_RUN}'",
        "insert": (
            f"insert into public.job_runs (job, day, triggered_by) values ('plan', '{DAY}', 'rls test')"
        ),
        "update": f"update public.job_runs set heartbeat_at = now() where id = '{JOB_RUN}'",
        "delete": f"delete from public.job_runs where id = '{JOB_RUN}'",
    },
}

# A: allowed, one row. H: hidden by RLS, no error and no row. D: denied, 42501.
# fmt: off
SPEC: list[tuple[str, str, tuple[Outcome, Outcome, Outcome, Outcome, Outcome]]] = [
    # table                       op         anon outsider subscriber admin service_role
    # Reference data: every signed-in user reads it, only the service role writes it.
    ("regions",                   "select", (D,   A,       A,         A,    A)),
    ("regions",                   "insert", (D,   D,       D,         D,    A)),
    ("regions",                   "update", (D,   D,       D,         D,    A)),
    ("regions",                   "delete", (D,   D,       D,         D,    A)),
    ("industries",                "select", (D,   A,       A,         A,    A)),
    ("industries",                "insert", (D,   D,       D,         D,    A)),
    ("industries",                "update", (D,   D,       D,         D,    A)),
    ("industries",                "delete", (D,   D,       D,         D,    A)),
    # Marketplace tables: a partner reads its own rows; Leadflow never writes them as a user.
    ("profiles",                  "select", (D,   H,       A,         H,    A)),
    ("profiles",                  "insert", (D,   D,       D,         D,    A)),
    ("profiles",                  "update", (D,   D,       D,         D,    A)),
    ("profiles",                  "delete", (D,   D,       D,         D,    A)),
    ("subscriptions",             "select", (D,   H,       A,         H,    A)),
    ("subscriptions",             "insert", (D,   D,       D,         D,    A)),
    ("subscriptions",             "update", (D,   D,       D,         D,    A)),
    ("subscriptions",             "delete", (D,   D,       D,         D,    A)),
    ("leads",                     "select", (D,   H,       A,         H,    A)),
    ("leads",                     "insert", (D,   D,       D,         D,    A)),
    ("leads",                     "update", (D,   D,       D,         D,    A)),
    ("leads",                     "delete", (D,   D,       D,         D,    A)),
    # Segments: every partner reads active ones; admins create and change; only jobs delete.
    ("lead_segments",             "select", (D,   A,       A,         A,    A)),
    ("lead_segments",             "insert", (D,   D,       D,         A,    A)),
    ("lead_segments",             "update", (D,   H,       H,         A,    A)),
    ("lead_segments",             "delete", (D,   D,       D,         D,    A)),
    # Campaign mappings: admins manage them (the API replaces a segment's list); the service
    # role reads them and never writes them (a key that could map a budget could steer it).
    # Admin-only tables: not granted to authenticated at all, so that pg_graphql lists
    # them to no signed-in user; admins go through security definer functions.
    ("segment_campaign_budgets",  "select", (D,   D,       D,         D,    A)),
    ("segment_campaign_budgets",  "insert", (D,   D,       D,         D,    D)),
    ("segment_campaign_budgets",  "update", (D,   D,       D,         D,    D)),
    ("segment_campaign_budgets",  "delete", (D,   D,       D,         D,    D)),
    # Stats and plans: subscribers and admins read; only the jobs write.
    ("lead_generation_stats",     "select", (D,   H,       A,         A,    A)),
    ("lead_generation_stats",     "insert", (D,   D,       D,         D,    A)),
    ("lead_generation_stats",     "update", (D,   D,       D,         D,    A)),
    ("lead_generation_stats",     "delete", (D,   D,       D,         D,    A)),
    ("lead_segment_days",         "select", (D,   D,       D,         D,    A)),
    ("lead_channel_stats",        "select", (D,   H,       A,         A,    A)),
    ("lead_channel_stats",        "insert", (D,   D,       D,         D,    A)),
    ("lead_channel_stats",        "update", (D,   D,       D,         D,    A)),
    ("lead_channel_stats",        "delete", (D,   D,       D,         D,    A)),
    ("lead_segment_channel_days", "select", (D,   D,       D,         D,    A)),
    ("lead_segment_plans",        "select", (D,   H,       A,         A,    A)),
    ("lead_segment_plans",        "insert", (D,   D,       D,         D,    A)),
    ("lead_segment_plans",        "update", (D,   D,       D,         D,    A)),
    ("lead_segment_plans",        "delete", (D,   D,       D,         D,    A)),
    # The audit log and job runs: admins read; the jobs append and complete; nobody deletes.
    ("channel_orchestration_log", "select", (D,   D,       D,         D,    A)),
    ("channel_orchestration_log", "insert", (D,   D,       D,         D,    D)),
    ("channel_orchestration_log", "update", (D,   D,       D,         D,    D)),
    ("channel_orchestration_log", "delete", (D,   D,       D,         D,    D)),
    ("job_runs",                  "select", (D,   D,       D,         D,    A)),
    ("job_runs",                  "insert", (D,   D,       D,         D,    D)),
    ("job_runs",                  "update", (D,   D,       D,         D,    D)),
    ("job_runs",                  "delete", (D,   D,       D,         D,    D)),
    # Holidays are reference data; campaign metrics are money (the jobs write; admins read
    # them through functions, not the table: pg_graphql).
    ("public_holidays",           "select", (D,   A,       A,         A,    A)),
    ("public_holidays",           "insert", (D,   D,       D,         D,    A)),
    ("public_holidays",           "update", (D,   D,       D,         D,    A)),
    ("public_holidays",           "delete", (D,   D,       D,         D,    A)),
    ("ad_campaign_daily_metrics", "select", (D,   D,       D,         D,    A)),
    ("ad_campaign_daily_metrics", "insert", (D,   D,       D,         D,    A)),
    ("ad_campaign_daily_metrics", "update", (D,   D,       D,         D,    A)),
    ("ad_campaign_daily_metrics", "delete", (D,   D,       D,         D,    A)),
    # The kill switch: the jobs only read it; it is flipped in the SQL editor (docs/DEPLOY.md),
    # and read by admins through private.*_for_admin functions. One row, never more.
    ("orchestration_settings",    "select", (D,   D,       D,         D,    A)),
    ("orchestration_settings",    "insert", (D,   D,       D,         D,    D)),
    ("orchestration_settings",    "update", (D,   D,       D,         D,    D)),
    ("orchestration_settings",    "delete", (D,   D,       D,         D,    D)),
    # The controller's economics: the settings' audit (written by a trigger only), industry
    # margins (set in the SQL editor) and the estimates (written by a definer function).
    ("orchestration_settings_history", "select", (D, D,     D,         D,    A)),
    ("orchestration_settings_history", "insert", (D, D,     D,         D,    D)),
    ("orchestration_settings_history", "update", (D, D,     D,         D,    D)),
    ("orchestration_settings_history", "delete", (D, D,     D,         D,    D)),
    ("industry_economics",        "select", (D,   D,       D,         D,    A)),
    ("industry_economics",        "insert", (D,   D,       D,         D,    D)),
    ("industry_economics",        "update", (D,   D,       D,         D,    D)),
    ("industry_economics",        "delete", (D,   D,       D,         D,    D)),
    ("segment_response_estimates", "select", (D,  D,       D,         D,    A)),
    ("segment_response_estimates", "insert", (D,  D,       D,         D,    D)),
    ("segment_response_estimates", "update", (D,  D,       D,         D,    D)),
    ("segment_response_estimates", "delete", (D,  D,       D,         D,    D)),
    # Channels: every signed-in user reads them (which channel a lead came from); a paid
    # channel's kill switch and cap are money rules, changed like the global ones in the SQL
    # editor: no API role writes. The jobs read them.
    ("ad_channels",               "select", (D,   A,       A,         A,    A)),
    ("ad_channels",               "insert", (D,   D,       D,         D,    D)),
    ("ad_channels",               "update", (D,   D,       D,         D,    D)),
    ("ad_channels",               "delete", (D,   D,       D,         D,    D)),
    # Attribution rules: changed in the SQL editor or by a migration; the jobs read them.
    ("channel_attribution_rules", "select", (D,   D,       D,         D,    A)),
    ("channel_attribution_rules", "insert", (D,   D,       D,         D,    D)),
    ("channel_attribution_rules", "update", (D,   D,       D,         D,    D)),
    ("channel_attribution_rules", "delete", (D,   D,       D,         D,    D)),
]
# fmt: on


def test_spec_covers_every_table_and_operation() -> None:
    assert {(table, op) for table, op, _ in SPEC} == {
        (table, op) for table, ops in STATEMENTS.items() for op in ops
    }


def test_the_matrix_covers_every_table_and_view_in_public(conn: psycopg.Connection[Any]) -> None:
    """A new table or view in the exposed schema without matrix rows fails here."""
    tables = {
        row[0]
        for row in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')"
        )
    }
    assert tables == {table for table, _, _ in SPEC}


@pytest.mark.parametrize(
    ("table", "operation", "actor", "expected"),
    [
        pytest.param(table, op, actor, outcome, id=f"{table}-{op}-{actor.name}-{outcome.value}")
        for table, op, outcomes in SPEC
        for actor, outcome in zip(ACTORS, outcomes, strict=True)
    ],
)
def test_who_may_do_what(
    conn: psycopg.Connection[Any], table: str, operation: str, actor: Actor, expected: Outcome
) -> None:
    assert_outcome(conn, actor, STATEMENTS[table][operation], expected)


# -----------------------------------------------------------------------------
# Money: no signed-in user selects it from the tables (admins use the read functions)
# -----------------------------------------------------------------------------

MONEY_COLUMNS = [
    ("lead_segments", "min_daily_budget"),
    ("lead_segments", "max_daily_budget"),
    ("lead_segments", "target_cpl"),
    ("lead_generation_stats", "revenue"),
    ("lead_generation_stats", "ad_spend"),
    ("lead_generation_stats", "ad_clicks"),
    ("lead_generation_stats", "ad_impressions"),
    ("lead_generation_stats", "ad_conversions"),
    ("lead_generation_stats", "cpl"),
    ("lead_segment_days", "planned_budget_micros"),
    ("lead_segment_days", "target_leads"),
    ("lead_channel_stats", "revenue"),
    ("lead_channel_stats", "spend"),
    ("lead_channel_stats", "clicks"),
    ("lead_channel_stats", "impressions"),
    ("lead_channel_stats", "conversions"),
    ("lead_segment_channel_days", "planned_budget_micros"),
    ("lead_segment_channel_days", "spend"),
]


@pytest.mark.parametrize("actor", [SUBSCRIBER, ADMIN], ids=lambda a: a.name)
@pytest.mark.parametrize(("table", "column"), MONEY_COLUMNS, ids=lambda v: v)
def test_no_signed_in_user_selects_money_columns_not_even_of_its_own_segment(
    conn: psycopg.Connection[Any], actor: Actor, table: str, column: str
) -> None:
    key = "id" if table == "lead_segments" else "segment_id"
    assert_outcome(conn, actor, f"select {column} from public.{table} where {key} = '{SEG}'", D)


@pytest.mark.parametrize("column", ["daily_cap", "kill_switch", "budget_name_pattern"])
def test_no_partner_selects_a_channels_money_rules(
    conn: psycopg.Connection[Any], column: str
) -> None:
    assert_outcome(conn, SUBSCRIBER, f"select {column} from public.ad_channels", D)


@pytest.mark.parametrize(
    "table", ["lead_segments", "lead_generation_stats", "lead_segment_days", "lead_channel_stats"]
)
def test_partner_cannot_select_star_from_a_table_with_money(
    conn: psycopg.Connection[Any], table: str
) -> None:
    assert_outcome(conn, SUBSCRIBER, f"select * from public.{table}", D)


def test_partner_cannot_filter_on_spend_to_learn_it(conn: psycopg.Connection[Any]) -> None:
    statement = (
        "select segment_id from public.lead_generation_stats"
        f" where segment_id = '{SEG}' and ad_spend > 40"
    )
    assert_outcome(conn, SUBSCRIBER, statement, D)


def test_service_role_reads_money(conn: psycopg.Connection[Any]) -> None:
    as_user(conn, None, "service_role")
    row = conn.execute(
        "select revenue, ad_spend, cpl from public.lead_generation_stats"
        f" where segment_id = '{SEG}' and day = '{DAY}'"
    ).fetchone()
    assert row is not None and [str(v) for v in row] == ["74.00", "50.00", "12.50"]
    day = conn.execute(
        "select planned_budget_micros, budget_action, budget_status, lead_gap"
        f" from public.lead_segment_days where segment_id = '{SEG}' and day = '{DAY}'"
    ).fetchone()
    assert day == (48_000_000, "increase", "pending", None)


# -----------------------------------------------------------------------------
# Which segments a partner sees
# -----------------------------------------------------------------------------


def _segment_codes(conn: psycopg.Connection[Any], actor: Actor, statement: str) -> set[str]:
    as_user(conn, actor.user_id, actor.role)
    return {row[0] for row in conn.execute(statement).fetchall()}


def test_partners_read_every_active_segment_subscribed_or_not(
    conn: psycopg.Connection[Any],
) -> None:
    codes = _segment_codes(conn, OUTSIDER, "select code from public.lead_segments")
    assert len(codes) == 10 and "schilder_noord_brabant" in codes


@pytest.mark.parametrize(
    ("actor", "visible"), [(SUBSCRIBER, False), (ADMIN, True)], ids=["partner", "admin"]
)
def test_inactive_segments_are_hidden_from_partners_but_not_admins(
    conn: psycopg.Connection[Any], actor: Actor, visible: bool
) -> None:
    conn.execute(f"update public.lead_segments set is_active = false where id = '{SEG}'")
    codes = _segment_codes(conn, actor, "select code from public.lead_segments")
    assert ("schilder_noord_brabant" in codes) is visible


def _fill_every_segment(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "insert into public.lead_generation_stats (segment_id, day)"
        " select id, date '2026-11-21' from public.lead_segments;"
        "insert into public.lead_segment_plans (segment_id, day, target_leads)"
        " select id, date '2026-11-21', 5 from public.lead_segments"
    )


SUBSCRIBED = [
    pytest.param(actor, codes, id=actor.name)
    for actor, codes in [
        (SUBSCRIBER, {"schilder_noord_brabant"}),
        (OUTSIDER, {"schilder_utrecht", "schilder_zuid_holland"}),
        (
            Actor("loodgieter partner", PARTNER_LOODGIETER_ID, "authenticated"),
            {"loodgieter_noord_brabant", "loodgieter_utrecht", "loodgieter_zuid_holland"},
        ),
        (
            Actor("dakdekker partner", PARTNER_DAKDEKKER_ID, "authenticated"),
            {"dakdekker_noord_brabant"},
        ),
        (Actor("partner with a paused subscription", PARTNER_PAUSED_ID, "authenticated"), set()),
    ]
]


@pytest.mark.parametrize("table", ["lead_generation_stats", "lead_segment_plans"])
@pytest.mark.parametrize(("actor", "codes"), SUBSCRIBED)
def test_partner_reads_counts_and_plans_only_of_segments_it_actively_subscribes_to(
    conn: psycopg.Connection[Any], table: str, actor: Actor, codes: set[str]
) -> None:
    _fill_every_segment(conn)
    statement = (
        f"select s.code from public.{table} t join public.lead_segments s on s.id = t.segment_id"
        " where t.day = '2026-11-21'"
    )
    assert _segment_codes(conn, actor, statement) == codes


@pytest.mark.parametrize("table", ["lead_generation_stats", "lead_segment_plans"])
def test_admin_reads_counts_and_plans_of_every_segment(
    conn: psycopg.Connection[Any], table: str
) -> None:
    _fill_every_segment(conn)
    statement = f"select segment_id from public.{table} where day = '2026-11-21'"
    assert len(_segment_codes(conn, ADMIN, statement)) == 10


# The subscription of PARTNER_BRABANT to schilder_noord_brabant, changed in the test's
# transaction; "today" is the Dutch day.
TODAY = "(now() at time zone 'Europe/Amsterdam')::date"
SUBSCRIPTION_STATES = [
    pytest.param("status = 'paused'", False, id="paused"),
    pytest.param("status = 'cancelled'", False, id="cancelled"),
    pytest.param(f"ends_on = {TODAY} - 1, starts_on = date '2026-01-01'", False, id="ended"),
    pytest.param(f"starts_on = {TODAY} + 1", False, id="not started"),
    pytest.param(f"ends_on = {TODAY}", True, id="ends today"),
    pytest.param(f"starts_on = {TODAY}", True, id="starts today"),
    pytest.param("status = 'active'", True, id="active, open-ended"),
]


@pytest.mark.parametrize(("change", "counts"), SUBSCRIPTION_STATES)
@pytest.mark.parametrize("table", ["lead_generation_stats", "lead_segment_plans"])
def test_only_an_active_subscription_opens_a_segment(
    conn: psycopg.Connection[Any], table: str, change: str, counts: bool
) -> None:
    conn.execute(f"update public.subscriptions set {change} where id = '{SUB_BRABANT}'")
    statement = f"select segment_id from public.{table} where segment_id = '{SEG}'"
    assert_outcome(conn, SUBSCRIBER, statement, A if counts else H)


def test_resuming_a_paused_subscription_opens_its_segment(conn: psycopg.Connection[Any]) -> None:
    paused = Actor("paused partner", PARTNER_PAUSED_ID, "authenticated")
    conn.execute(
        "insert into public.lead_generation_stats (segment_id, day)"
        f" values ('{SEG_DAKDEKKER_UTRECHT}', '{DAY}')"
    )
    statement = (
        f"select day from public.lead_generation_stats where segment_id = '{SEG_DAKDEKKER_UTRECHT}'"
    )
    assert_outcome(conn, paused, statement, H)
    conn.execute("reset role")
    conn.execute(f"update public.subscriptions set status = 'active' where id = '{SUB_PAUSED}'")
    assert_outcome(conn, paused, statement, A)


def test_partner_gets_no_gap_for_a_segment_it_does_not_subscribe_to(
    conn: psycopg.Connection[Any],
) -> None:
    statement = f"select public.calculate_lead_gap('{SEG}', '{DAY}')"
    as_user(conn, OUTSIDER.user_id)
    assert conn.execute(statement).fetchone() == (None,)
    as_user(conn, SUBSCRIBER.user_id)
    assert conn.execute(statement).fetchone() == (Decimal("3.79"),)


# -----------------------------------------------------------------------------
# The orchestration log is append-only, for the service role and the owner alike
# -----------------------------------------------------------------------------

SUPERUSER = Actor("superuser", None, "postgres")


def _as(conn: psycopg.Connection[Any], actor: Actor) -> None:
    if actor is not SUPERUSER:
        as_user(conn, actor.user_id, actor.role)


def _completed_row(conn: psycopg.Connection[Any], status: str) -> int:
    # As a live run leaves it (claimed, then completed): written past the write path.
    conn.execute("set local session_replication_role = replica")
    row = conn.execute(
        "insert into public.channel_orchestration_log"
        " (day, segment_id, action, reason, mode, triggered_by, status, error, completed_at,"
        " sent_on, claimed_at)"
        f" values ('{DAY}', '{SEG}', 'hold', 'data missing',"
        " case when %s = 'skipped' then 'dry_run' else 'live' end, 'rls test', %s,"
        " case when %s = 'success' then null else 'why' end, now(),"
        f" case when %s = 'skipped' then null else date '{DAY}' end,"
        " case when %s = 'skipped' then null else now() end) returning id",
        (status, status, status, status, status),
    ).fetchone()
    conn.execute("set local session_replication_role = origin")
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("actor", [SERVICE, SUPERUSER], ids=lambda a: a.name)
def test_nobody_deletes_from_the_orchestration_log(
    conn: psycopg.Connection[Any], actor: Actor
) -> None:
    _as(conn, actor)
    with pytest.raises(InsufficientPrivilege):
        conn.execute(f"delete from public.channel_orchestration_log where run_id = '{LOG_RUN}'")


@pytest.mark.parametrize("actor", [SERVICE, SUPERUSER], ids=lambda a: a.name)
def test_nobody_truncates_the_orchestration_log(
    conn: psycopg.Connection[Any], actor: Actor
) -> None:
    _as(conn, actor)
    with pytest.raises(InsufficientPrivilege):
        conn.execute("truncate public.channel_orchestration_log")


def test_a_pending_decision_is_completed_once(conn: psycopg.Connection[Any]) -> None:
    as_user(conn, None, "leadflow_money")  # the owner: the rules hold even for it
    where = f"where run_id = '{LOG_RUN}'"
    done = conn.execute(
        "update public.channel_orchestration_log"
        f" set status = 'skipped', error = 'kill switch on', completed_at = now() {where}"
    )
    assert done.rowcount == 1
    with pytest.raises(InsufficientPrivilege):
        conn.execute(
            f"update public.channel_orchestration_log set status = 'success', error = null {where}"
        )


@pytest.mark.parametrize("status", ["success", "failed", "skipped"])
@pytest.mark.parametrize("actor", [SERVICE, SUPERUSER], ids=lambda a: a.name)
def test_completed_decisions_are_immutable(
    conn: psycopg.Connection[Any], actor: Actor, status: str
) -> None:
    log_id = _completed_row(conn, status)
    _as(conn, actor)
    with pytest.raises(InsufficientPrivilege):
        conn.execute(
            f"update public.channel_orchestration_log set error = 'rewritten' where id = {log_id}"
        )


@pytest.mark.parametrize(
    "change",
    [
        "new_amount_micros = 90000000",
        "reason = 'something nicer'",
        "mode = 'dry_run'",
        "triggered_by = 'someone else'",
        "created_at = now() - interval '1 day'",
        f"segment_id = '{SEG_NEW}'",
    ],
)
def test_only_status_error_and_completed_at_of_a_pending_decision_change(
    conn: psycopg.Connection[Any], change: str
) -> None:
    as_user(conn, None, "leadflow_money")
    with pytest.raises(InsufficientPrivilege):
        conn.execute(
            "update public.channel_orchestration_log"
            f" set {change}, status = 'success', completed_at = now() where run_id = '{LOG_RUN}'"
        )


def test_a_pending_decision_cannot_change_without_being_completed(
    conn: psycopg.Connection[Any],
) -> None:
    as_user(conn, None, "leadflow_money")
    with pytest.raises(InsufficientPrivilege):
        conn.execute(
            "update public.channel_orchestration_log set error = 'still trying'"
            f" where run_id = '{LOG_RUN}'"
        )


# -----------------------------------------------------------------------------
# Who may run the SQL functions of segments and gaps
# -----------------------------------------------------------------------------

FUNCTIONS = [
    # call,                                          anon outsider admin service_role
    (f"public.calculate_lead_gap('{SEG}', '{DAY}')", (D, A, A, A)),
    (f"public.update_lead_gap('{SEG}', '{DAY}')", (D, D, D, A)),
    (f"public.update_lead_gaps('{DAY}', '{DAY}')", (D, D, D, A)),
    (f"public.assign_lead_segments('{DAY}', '{DAY}')", (D, D, D, A)),
]


@pytest.mark.parametrize(
    ("call", "actor", "expected"),
    [
        pytest.param(call, actor, outcome, id=f"{call.split('(')[0]}-{actor.name}")
        for call, outcomes in FUNCTIONS
        for actor, outcome in zip((ANON, OUTSIDER, ADMIN, SERVICE), outcomes, strict=True)
    ],
)
def test_who_may_run_the_gap_and_backfill_functions(
    conn: psycopg.Connection[Any], call: str, actor: Actor, expected: Outcome
) -> None:
    as_user(conn, actor.user_id, actor.role)
    if expected is D:
        with pytest.raises(InsufficientPrivilege):
            conn.execute(f"select {call}")
    else:
        conn.execute(f"select {call}")


@pytest.mark.parametrize(
    "table",
    [
        "industries",
        "regions",
        "lead_segments",
        "public_holidays",
        "lead_channel_stats",
        "ad_channels",
    ],
)
def test_a_bare_sign_up_without_a_profile_reads_nothing(
    conn: psycopg.Connection[Any], table: str
) -> None:
    """With sign-up open anyone has a token; only partners and admins read reference data."""
    stranger = "00000000-0000-4000-8000-0000000000ff"
    conn.execute(
        "insert into auth.users (id, email) values (%s, 'stranger@example.com')", (stranger,)
    )
    (everything,) = conn.execute(f"select count(*) from public.{table}").fetchone()
    assert everything > 0
    as_user(conn, stranger, "authenticated")
    assert conn.execute(f"select count(*) from public.{table}").fetchone() == (0,)
