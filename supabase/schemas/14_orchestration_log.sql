-- =============================================================================
-- The orchestration log: the append-only audit of every budget decision,
-- and the checks every decision passes on insert. docs/MONEY_SAFETY.md.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- channel_orchestration_log
-- -----------------------------------------------------------------------------
create table public.channel_orchestration_log (
  id bigint generated always as identity primary key,
  run_id uuid,
  day date not null,
  segment_id uuid not null references public.lead_segments (id),
  channel text not null default 'google_ads' check (channel in ('google_ads')),
  kind text not null default 'adjust' check (kind in ('adjust', 'rollback')),
  customer_id text,
  campaign_id text,
  budget_resource_name text,
  action text not null check (action in ('increase', 'decrease', 'hold')),
  old_amount_micros bigint check (old_amount_micros is null or old_amount_micros >= 0),
  new_amount_micros bigint check (new_amount_micros is null or new_amount_micros >= 0),
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

create trigger channel_orchestration_log_append_only
  before update or delete on public.channel_orchestration_log
  for each row execute function private.orchestration_log_append_only();
create trigger channel_orchestration_log_no_truncate
  before truncate on public.channel_orchestration_log
  for each statement execute function private.orchestration_log_append_only();

alter table public.channel_orchestration_log enable row level security;
-- Also from service_role, which default privileges give everything: it appends and completes.
revoke all on table public.channel_orchestration_log from anon, authenticated, service_role;
revoke all on sequence public.channel_orchestration_log_id_seq from public, anon, authenticated, service_role;
grant usage on sequence public.channel_orchestration_log_id_seq to service_role;
-- Supabase's default privileges hand every new sequence to the API roles: not ours.
alter default privileges in schema public revoke all on sequences from anon, authenticated;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant select, insert, update on table public.channel_orchestration_log to service_role;
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

create or replace function private.check_budget_decision() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  seg record;
  settings record;
  reference bigint;
begin
  if new.status not in ('pending', 'skipped') or new.sent_on is not null or new.claimed_at is not null then
    raise exception 'a decision is logged pending or skipped; only sending and Google Ads'' answer move it on'
      using errcode = '23514';
  end if;
  if new.action = 'hold' then
    if new.new_amount_micros is distinct from new.old_amount_micros then
      raise exception 'a hold keeps the budget: new must equal old' using errcode = '23514';
    end if;
    return new;
  end if;
  if new.budget_resource_name is null or new.old_amount_micros is null or new.new_amount_micros is null then
    raise exception 'a budget change needs the budget, its old and its new amount' using errcode = '23514';
  end if;
  if (new.action = 'increase') <> (new.new_amount_micros > new.old_amount_micros)
     or (new.action = 'decrease') <> (new.new_amount_micros < new.old_amount_micros) then
    raise exception 'an % must % the budget (% -> % micros)', new.action,
      case new.action when 'increase' then 'raise' else 'lower' end,
      new.old_amount_micros, new.new_amount_micros using errcode = '23514';
  end if;
  if new.kind = 'adjust' and not coalesce(sign(new.expected_gap) = case new.action when 'increase' then 1 else -1 end, false) then
    raise exception 'an adjustment never goes against the expected gap: % with a gap of %',
      new.action, coalesce(new.expected_gap::text, 'unknown') using errcode = '23514';
  end if;
  select s.min_daily_budget, s.max_daily_budget into seg
    from public.lead_segments s where s.id = new.segment_id;
  select o.changes_enabled, o.max_daily_change into settings
    from public.orchestration_settings o;
  if not found then
    raise exception 'orchestration_settings has no row: no decision is logged without the daily limit'
      using errcode = '23514';
  end if;
  if new.new_amount_micros < round(seg.min_daily_budget * 1000000)
     or new.new_amount_micros > round(seg.max_daily_budget * 1000000) then
    raise exception 'budget % micros is outside the segment bounds % .. % euro',
      new.new_amount_micros, seg.min_daily_budget, seg.max_daily_budget using errcode = '23514';
  end if;
  if new.mode = 'live' and new.status = 'pending' and new.day <> private.today_nl() then
    raise exception 'live changes are only for today (%), not %', private.today_nl(), new.day
      using errcode = '23514';
  end if;
  -- The daily limit is measured from the budget at the start of today; a rollback
  -- restores exactly that.
  reference := case when new.mode = 'live'
                    then private.budget_day_reference(new.budget_resource_name, private.today_nl())
               end;
  if new.kind = 'rollback' and new.mode = 'live' and new.new_amount_micros is distinct from reference then
    raise exception 'a rollback restores the amount of the start of today (% micros), not %',
      coalesce(reference::text, 'none: nothing changed today'), new.new_amount_micros using errcode = '23514';
  end if;
  -- Every decision stays within the limit of the amount it starts from; one that
  -- may be sent also within the limit of the start of today.
  if new.status <> 'pending' then
    reference := null;
  end if;
  if (new.kind = 'adjust' and abs(new.new_amount_micros - new.old_amount_micros)
        > floor(new.old_amount_micros * settings.max_daily_change))
     or abs(new.new_amount_micros - reference) > floor(reference * settings.max_daily_change) then
    raise exception 'a change to % micros is more than % %% from the day''s starting budget of % micros',
      new.new_amount_micros, settings.max_daily_change * 100,
      coalesce(reference, new.old_amount_micros)
      using errcode = '23514';
  end if;
  if new.mode <> 'dry_run' and new.status = 'pending' and not coalesce(settings.changes_enabled, false) then
    raise exception 'the kill switch is on: no budget changes may be sent' using errcode = '23514';
  end if;
  return new;
end
$$;
comment on function private.check_budget_decision() is
  'Trigger: refuses a logged decision that is not pending or skipped, an action that contradicts its '
  'amounts or (adjustments) the sign of the expected gap, an amount outside the segment bounds or more '
  'than the daily limit from the start-of-day budget, a live change for another day than today, '
  'a rollback to anything but the start-of-day amount, or a change to send while the kill switch is on.';

create trigger channel_orchestration_log_check_decision
  before insert on public.channel_orchestration_log
  for each row execute function private.check_budget_decision();

revoke execute on function private.budget_day_reference(text, date) from public, anon, authenticated;
grant execute on function private.budget_day_reference(text, date) to service_role;
