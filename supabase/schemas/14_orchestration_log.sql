-- =============================================================================
-- The orchestration log: the append-only audit of every budget decision.
-- Its only writers are the functions of 16_claims_and_caps.sql. docs/MONEY_SAFETY.md.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- channel_orchestration_log
-- -----------------------------------------------------------------------------
create table public.channel_orchestration_log (
  id bigint generated always as identity primary key,
  run_id uuid,
  day date not null,
  segment_id uuid references public.lead_segments (id),
  -- The budget's channel, from its mapping when logged (null: it was not mapped).
  channel text references public.ad_channels (key),
  kind text not null default 'adjust' check (kind in ('adjust', 'rollback')),
  customer_id text,
  campaign_id text,
  budget_resource_name text,
  action text not null check (action in ('increase', 'decrease', 'hold')),
  -- Whole euro cents: Google Ads takes budget micros in multiples of the currency's unit.
  old_amount_micros bigint
    check (old_amount_micros is null or (old_amount_micros >= 0 and old_amount_micros % 10000 = 0)),
  new_amount_micros bigint
    check (new_amount_micros is null or (new_amount_micros >= 0 and new_amount_micros % 10000 = 0)),
  change_pct numeric(9, 2),
  expected_gap numeric(12, 2),
  inputs jsonb check (inputs is null or jsonb_typeof(inputs) = 'object'),
  reason text not null check (length(btrim(reason)) > 0),
  mode text not null check (mode in ('live', 'dry_run', 'validate_only')),
  status text not null default 'pending'
    check (status in ('pending', 'sent', 'unknown', 'success', 'failed', 'skipped')),
  error text,
  triggered_by text not null,
  created_at timestamptz not null default now(),
  sent_on date,
  claimed_at timestamptz,
  completed_at timestamptz,
  check ((status in ('pending', 'sent', 'unknown')) = (completed_at is null)),
  check ((status in ('sent', 'unknown', 'success', 'failed')) = (sent_on is not null)),
  check ((sent_on is null) = (claimed_at is null)),
  check (mode <> 'dry_run' or status = 'skipped'),
  check (status not in ('failed', 'unknown') or error is not null)
);
create index channel_orchestration_log_channel_idx on public.channel_orchestration_log (channel, day);
create index channel_orchestration_log_segment_day_idx on public.channel_orchestration_log (segment_id, day);
create index channel_orchestration_log_day_status_idx on public.channel_orchestration_log (day, status);
create index channel_orchestration_log_open_idx on public.channel_orchestration_log (run_id)
  where status in ('pending', 'sent', 'unknown');
-- The changes of a budget sent on a day: the daily limit's reference and sum.
create index channel_orchestration_log_sent_idx
  on public.channel_orchestration_log (budget_resource_name, sent_on, id)
  where sent_on is not null and mode = 'live';
-- At most one live change per budget, day and kind that may still apply or has
-- applied: a rerun of the same day can never apply a change twice.
create unique index channel_orchestration_log_one_live_change_idx
  on public.channel_orchestration_log (budget_resource_name, day, kind)
  where mode = 'live' and status in ('pending', 'sent', 'unknown', 'success') and action <> 'hold';
-- At most one change per budget in flight or of unknown outcome: it blocks every
-- other change of that budget until it is reconciled against Google Ads.
create unique index channel_orchestration_log_one_in_doubt_idx
  on public.channel_orchestration_log (budget_resource_name)
  where mode = 'live' and status in ('sent', 'unknown');

comment on table public.channel_orchestration_log is
  'Append-only audit of every budget decision: written pending before Google Ads is called, then completed. Admin-only.';
comment on column public.channel_orchestration_log.run_id is 'The job run (public.job_runs.id) that made the decision.';
comment on column public.channel_orchestration_log.day is 'Dutch calendar day the decision is for.';
comment on column public.channel_orchestration_log.kind is 'adjust (the daily controller) or rollback (restoring an earlier budget).';
comment on column public.channel_orchestration_log.budget_resource_name is 'customers/{cid}/campaignBudgets/{id} that was (to be) changed.';
comment on column public.channel_orchestration_log.action is 'increase, decrease or hold.';
comment on column public.channel_orchestration_log.old_amount_micros is 'Daily budget before, in micros (1,000,000 = 1 euro).';
comment on column public.channel_orchestration_log.new_amount_micros is 'Daily budget decided, in micros.';
comment on column public.channel_orchestration_log.change_pct is '(new - old) / old * 100.';
comment on column public.channel_orchestration_log.expected_gap is
  'What an adjustment answered: the day''s target minus the leads expected at the current budget '
  '(leads/day; positive: under target). Not the plan''s lead_gap, which is target minus actual.';
comment on column public.channel_orchestration_log.inputs is
  'Everything the controller saw for this decision (the segment''s signal and the settings it used), '
  'so that the row explains itself without the tables as they were that day.';
comment on column public.channel_orchestration_log.reason is 'Why: the controller''s explanation in words.';
comment on column public.channel_orchestration_log.mode is 'live, dry_run (nothing sent) or validate_only (sent, not applied).';
comment on column public.channel_orchestration_log.status is
  'pending (logged, not sent), sent (claimed for sending, outcome not yet known), unknown (sent; '
  'Google Ads gave no clear answer), success, failed (Google Ads refused it) or skipped (never sent).';
comment on column public.channel_orchestration_log.error is 'What went wrong, for failed and unknown (and why, for skipped).';
comment on column public.channel_orchestration_log.sent_on is
  'Amsterdam calendar day the change was claimed for sending: the day whose limit it counts against.';
comment on column public.channel_orchestration_log.claimed_at is 'When the change was claimed for sending.';
comment on column public.channel_orchestration_log.triggered_by is 'Who or what made the decision: scheduler, cli:<user>, api:<user>.';

create or replace function private.orchestration_log_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' or tg_op = 'TRUNCATE' then
    raise exception 'channel_orchestration_log is append-only: rows cannot be deleted'
      using errcode = '42501';
  end if;
  -- The life of a row: pending -> sent | skipped; sent -> success | failed | unknown;
  -- unknown -> success | failed (reconciled against Google Ads). Nothing else.
  if not ((old.status = 'pending' and new.status in ('sent', 'skipped'))
          or (old.status = 'sent' and new.status in ('success', 'failed', 'unknown'))
          or (old.status = 'unknown' and new.status in ('success', 'failed'))) then
    raise exception 'channel_orchestration_log row % cannot go from % to %', old.id, old.status, new.status
      using errcode = '42501';
  end if;
  if (new.id, new.run_id, new.day, new.segment_id, new.channel, new.kind, new.customer_id,
      new.campaign_id, new.budget_resource_name, new.action, new.old_amount_micros,
      new.new_amount_micros, new.change_pct, new.expected_gap, new.inputs, new.reason, new.mode,
      new.triggered_by, new.created_at)
     is distinct from
     (old.id, old.run_id, old.day, old.segment_id, old.channel, old.kind, old.customer_id,
      old.campaign_id, old.budget_resource_name, old.action, old.old_amount_micros,
      old.new_amount_micros, old.change_pct, old.expected_gap, old.inputs, old.reason, old.mode,
      old.triggered_by, old.created_at) then
    raise exception 'channel_orchestration_log: only the status, error and timestamps of an open row may change'
      using errcode = '42501';
  end if;
  if old.status <> 'pending' and (new.sent_on, new.claimed_at) is distinct from (old.sent_on, old.claimed_at) then
    raise exception 'channel_orchestration_log row % was claimed once; its claim cannot change', old.id
      using errcode = '42501';
  end if;
  if new.status = 'sent' then
    -- Only public.claim_budget_decisions sends; it re-reads the kill switch and the limit.
    if not coalesce((select o.changes_enabled from public.orchestration_settings o), false) then
      raise exception 'the kill switch is on: no budget change may be sent' using errcode = '23514';
    end if;
    if new.sent_on is distinct from private.today_nl() then
      raise exception 'a change is sent on the day it is claimed (%)', private.today_nl()
        using errcode = '23514';
    end if;
  end if;
  return new;
end
$$;
comment on function private.orchestration_log_append_only() is
  'Trigger: the audit log only grows; a row moves pending -> sent -> success/failed/unknown -> '
  'success/failed (or pending -> skipped) and nothing else of it changes; nothing is sent while the '
  'kill switch is on.';

alter function private.orchestration_log_append_only() owner to leadflow_money;

create trigger channel_orchestration_log_append_only
  before update or delete on public.channel_orchestration_log
  for each row execute function private.orchestration_log_append_only();
create trigger channel_orchestration_log_no_truncate
  before truncate on public.channel_orchestration_log
  for each statement execute function private.orchestration_log_append_only();

-- Owned by the money owner, whose definer functions are its only writers: the service role
-- (which default privileges give everything) reads it, nothing more.
alter table public.channel_orchestration_log owner to leadflow_money;
alter table public.channel_orchestration_log enable row level security;
revoke all on table public.channel_orchestration_log from anon, authenticated, service_role;
revoke all on sequence public.channel_orchestration_log_id_seq from public, anon, authenticated, service_role;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant select on table public.channel_orchestration_log to service_role;
create policy "Admins can read the orchestration log"
  on public.channel_orchestration_log for select to authenticated
  using ((select private.is_admin()));

-- -----------------------------------------------------------------------------
-- Money safety in the database: every non-hold decision is checked on insert
-- -----------------------------------------------------------------------------
create or replace function private.budget_day_reference(p_budget text, p_day date) returns bigint
language sql stable
set search_path = ''
as $$
  -- The budget as it stood when the day began: the old amount of its first live
  -- change sent that day, whatever became of that change.
  select l.old_amount_micros
  from public.channel_orchestration_log l
  where l.budget_resource_name = p_budget and l.sent_on = p_day and l.mode = 'live'
  order by l.id
  limit 1
$$;
comment on function private.budget_day_reference(text, date) is
  'A budget''s amount at the start of an Amsterdam day: the old amount of the first live change sent '
  'that day (null before any). Every change sent that day stays within the daily limit of it.';


alter function private.budget_day_reference(text, date) owner to leadflow_money;
revoke execute on function private.budget_day_reference(text, date) from public, anon, authenticated;
grant execute on function private.budget_day_reference(text, date) to service_role;
