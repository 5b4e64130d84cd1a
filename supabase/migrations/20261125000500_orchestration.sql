-- =============================================================================
-- Orchestration: the append-only audit of budget decisions, the settings and
-- kill switch, the money-safety checks, the controller's inputs, the write path,
-- the budgets last seen and the alerts for operators. docs/MONEY_SAFETY.md.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- =============================================================================
-- The append-only audit of budget decisions.
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
-- lead_segment_days: the day's picture for readers
-- -----------------------------------------------------------------------------
-- One row per plan: the plan (written by the plan job alone), the day's stats, and
-- the latest adjustment decided for each of the segment's budgets that day (from the
-- log, the one record of what the orchestrator decided). Nothing is copied between
-- the three tables, so each has one writer.
create view public.lead_segment_days with (security_invoker = true) as
select p.segment_id, p.day, p.capacity, p.acceptance_rate, p.target_leads, p.actual_leads, p.lead_gap,
       st.leads_accepted, st.leads_rejected, st.leads_pending, st.leads_google_ads,
       st.leads_generated - st.leads_google_ads as leads_organic,
       st.revenue, st.ad_spend, st.cpl,
       d.budgets, d.planned_budget_micros, d.expected_gap, d.budget_action, d.budget_status,
       d.decided_at
from public.lead_segment_plans p
left join public.lead_generation_stats st on st.segment_id = p.segment_id and st.day = p.day
cross join lateral (
  select count(*)::integer as budgets,
         sum(x.new_amount_micros)::bigint as planned_budget_micros,
         max(x.expected_gap) as expected_gap,
         case when count(distinct x.action) > 1 then 'mixed' else min(x.action) end as budget_action,
         (array_agg(x.status order by array_position(
            array['failed', 'unknown', 'sent', 'pending', 'success', 'skipped'], x.status)))[1]
           as budget_status,
         max(x.created_at) as decided_at
  from (select distinct on (l.budget_resource_name) l.action, l.status, l.new_amount_micros,
               l.expected_gap, l.created_at
        from public.channel_orchestration_log l
        where l.segment_id = p.segment_id and l.day = p.day and l.kind = 'adjust'
        order by l.budget_resource_name, l.id desc) x
) d;

comment on view public.lead_segment_days is
  'One row per segment per planned day: the plan (target, actual, gap), the day''s stats, and the '
  'latest adjustment of each of the segment''s budgets that day. Money: service role only.';
comment on column public.lead_segment_days.leads_organic is 'Leads not from Google Ads (SEO, microsite, other).';
comment on column public.lead_segment_days.budgets is 'Budgets of the segment decided for the day (0: none yet).';
comment on column public.lead_segment_days.planned_budget_micros is
  'Sum of the latest decided daily amount of each budget (micros): what the orchestrator set or would set.';
comment on column public.lead_segment_days.expected_gap is 'The largest expected_gap of those decisions.';
comment on column public.lead_segment_days.budget_action is
  'increase, decrease or hold (the log''s words); mixed when the segment''s budgets were moved differently.';
comment on column public.lead_segment_days.budget_status is
  'The log''s status of those decisions, the least settled first: failed, unknown, sent, pending, success, skipped.';

revoke all on table public.lead_segment_days from public, anon, authenticated;
grant select on table public.lead_segment_days to service_role;

-- =============================================================================
-- Orchestration in SQL: settings and kill switch, the controller's inputs,
-- and the audit log's write path with its money-safety checks.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- orchestration_settings: one row; the kill switch lives here
-- -----------------------------------------------------------------------------
create table public.orchestration_settings (
  id boolean primary key default true check (id),
  changes_enabled boolean not null default true,
  -- The hard ceiling of 20 % a day is this check, and written nowhere else.
  max_daily_change numeric(4, 3) not null default 0.200
    check (max_daily_change > 0 and max_daily_change <= 0.200),
  -- The controller's parameters (leadflow.controller.ControllerConfig reads them from here).
  dead_band numeric(4, 3) not null default 0.100 check (dead_band >= 0 and dead_band <= 1),
  min_gap_leads numeric(6, 2) not null default 0.50 check (min_gap_leads >= 0),
  billable_unit_micros bigint not null default 10000
    check (billable_unit_micros > 0 and billable_unit_micros % 10000 = 0),
  stale_after_days integer not null default 2 check (stale_after_days >= 0),
  fallback_step numeric(4, 3) not null default 0.500 check (fallback_step > 0 and fallback_step <= 1),
  -- The plan's parameters (public.plan_lead_segments reads them from here).
  acceptance_window_days integer not null default 28 check (acceptance_window_days >= 1),
  prior_acceptance numeric(4, 3) not null default 0.700
    check (prior_acceptance > 0 and prior_acceptance <= 1),
  prior_acceptance_weight numeric(6, 2) not null default 20 check (prior_acceptance_weight >= 0),
  max_pace numeric(4, 2) not null default 1.50 check (max_pace >= 1),
  -- Economics, the account cap and the response estimator (orchestration_inputs,
  -- estimate_segment_responses).
  account_daily_cap numeric(14, 2) check (account_daily_cap is null or account_daily_cap > 0),
  min_margin numeric(4, 3) not null default 0.100 check (min_margin >= 0 and min_margin < 1),
  prior_elasticity numeric(4, 3) not null default 0.550
    check (prior_elasticity > 0 and prior_elasticity <= 1),
  elasticity_spread numeric(4, 3) not null default 0.150 check (elasticity_spread > 0),
  response_window_days integer not null default 56
    check (response_window_days between 7 and 365),
  value_window_days integer not null default 56 check (value_window_days between 7 and 365),
  saturation_lost_share numeric(4, 3) not null default 0.020
    check (saturation_lost_share >= 0 and saturation_lost_share < 1),
  forecast_prior_leads numeric(8, 2) not null default 30 check (forecast_prior_leads > 0),
  elasticity_min numeric(4, 3) not null default 0.150,
  elasticity_max numeric(4, 3) not null default 0.950,
  demand_variance numeric(4, 3) not null default 0.030 check (demand_variance >= 0),
  scale_window_days integer not null default 14
    check (scale_window_days between 7 and 364 and scale_window_days % 7 = 0),
  min_accepted_for_value integer not null default 3 check (min_accepted_for_value >= 1),
  estimate_max_age_days integer not null default 7 check (estimate_max_age_days >= 1),
  steering_window_days integer not null default 7
    check (steering_window_days between 7 and 364 and steering_window_days % 7 = 0),
  constraint orchestration_settings_elasticity_range
    check (elasticity_min > 0 and elasticity_min < elasticity_max and elasticity_max <= 1),
  updated_at timestamptz not null default now(),
  updated_by uuid
);
insert into public.orchestration_settings (id) values (true) on conflict do nothing;

comment on table public.orchestration_settings is
  'One row of orchestrator settings: the kill switch (changes_enabled = false: no budget change is sent) '
  'and the one home of every controller and planning parameter (docs/FORMULAS.md lists them).';
comment on column public.orchestration_settings.changes_enabled is
  'Kill switch: false stops every budget change (live and validate-only); decisions are still logged.';
comment on column public.orchestration_settings.max_daily_change is
  'Largest change of a budget in one day, as a fraction (at most 0.20).';
comment on column public.orchestration_settings.dead_band is
  'The controller holds while |gap| <= dead_band x target leads (relative dead band).';
comment on column public.orchestration_settings.min_gap_leads is
  'The controller holds while |gap| <= this many leads/day (absolute dead band).';
comment on column public.orchestration_settings.billable_unit_micros is
  'Budgets are whole multiples of this many micros: whole euro cents (10,000), which Google Ads requires.';
comment on column public.orchestration_settings.stale_after_days is
  'The controller holds when the newest stats are older than this many days.';
comment on column public.orchestration_settings.fallback_step is
  'With no cost per lead known, the controller moves by this fraction of the daily limit.';
comment on column public.orchestration_settings.acceptance_window_days is
  'Days of accepted and rejected leads the plan''s acceptance rate is measured over.';
comment on column public.orchestration_settings.prior_acceptance is
  'Acceptance rate a segment without history plans with (the prior of the plan''s acceptance rate).';
comment on column public.orchestration_settings.prior_acceptance_weight is
  'How many decided leads the prior acceptance rate is worth.';
comment on column public.orchestration_settings.max_pace is
  'A month behind schedule raises the daily accepted target to at most this multiple of the daily capacity.';
comment on column public.orchestration_settings.account_daily_cap is
  'Optional account-wide daily cap (euro): the day''s budgets never sum to more. Null: no cap.';
comment on column public.orchestration_settings.min_margin is
  'Minimum margin on an accepted lead: never raise a budget when the estimated marginal cost per accepted '
  'lead exceeds value x (1 - min_margin). industry_economics overrides it per industry.';
comment on column public.orchestration_settings.prior_elasticity is
  'Elasticity (paid leads grow like spend ^ e) a segment is pooled toward when its own data say little.';
comment on column public.orchestration_settings.elasticity_spread is
  'Standard deviation of elasticities between segments (the prior''s, and the pooling''s, spread).';
comment on column public.orchestration_settings.response_window_days is
  'Days of Google Ads history an elasticity is estimated from.';
comment on column public.orchestration_settings.value_window_days is
  'Days of accepted leads the value of an accepted lead is averaged over.';
comment on column public.orchestration_settings.forecast_prior_leads is
  'Leads of prior weight a weekday''s (or public holiday''s) factor of an industry is shrunk toward 1 '
  'with (orchestration_inputs.day_factor; see docs/FORMULAS.md).';
comment on column public.orchestration_settings.elasticity_min is
  'Smallest elasticity the estimator gives a segment (its estimate is clamped to elasticity_min .. '
  'elasticity_max).';
comment on column public.orchestration_settings.elasticity_max is
  'Largest elasticity the estimator gives a segment (at most 1: paid leads never grow faster than spend).';
comment on column public.orchestration_settings.demand_variance is
  'Day-to-day variance of ln(demand): with the Poisson 1 / leads, var(ln mean) of a spend half of the '
  'estimator is 1 / its leads + demand_variance / its days.';
comment on column public.orchestration_settings.scale_window_days is
  'Recent days (a whole number of weeks) the estimator''s scale is fitted over, and the paid leads per '
  'day at the week''s spend (orchestration_inputs.paid_leads) are averaged over.';
comment on column public.orchestration_settings.min_accepted_for_value is
  'Accepted leads a segment (else its industry, else all segments) needs over value_window_days for its '
  'mean price to be the value of an accepted lead.';
comment on column public.orchestration_settings.estimate_max_age_days is
  'orchestration_inputs uses the newest response estimate of the last this many days (to the day); '
  'older: none (the prior elasticity, no value).';
comment on column public.orchestration_settings.steering_window_days is
  'The trailing window (a whole number of weeks: each weekday counts equally) of targets, leads and '
  'spend the controller''s inputs are means over (orchestration_inputs).';
comment on column public.orchestration_settings.saturation_lost_share is
  'Impressions lost to budget below this share: the budget is not what limits volume (the controller '
  'holds under target, the estimator skips the day).';

create or replace function private.stamp_settings_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  new.updated_by := (select auth.uid());
  return new;
end
$$;
create trigger orchestration_settings_stamp
  before update on public.orchestration_settings
  for each row execute function private.stamp_settings_change();

alter table public.orchestration_settings enable row level security;
-- Also from service_role, which default privileges give everything: the jobs only read it.
revoke all on table public.orchestration_settings from anon, authenticated, service_role;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant select on table public.orchestration_settings to service_role;
create policy "Admins can read orchestration settings"
  on public.orchestration_settings for select to authenticated
  using ((select private.is_admin()));
create policy "Admins can change orchestration settings"
  on public.orchestration_settings for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

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

-- -----------------------------------------------------------------------------
-- What the controller needs per campaign budget
-- -----------------------------------------------------------------------------
create or replace function public.campaign_customer_ids() returns setof text
language sql stable
set search_path = ''
as $$
  select distinct cb.customer_id
  from public.segment_campaign_budgets cb
  join public.lead_segments s on s.id = cb.segment_id
  where cb.is_active and s.is_active
  order by 1
$$;
comment on function public.campaign_customer_ids() is 'Google Ads customer ids with an active mapped budget.';

-- -----------------------------------------------------------------------------
-- The audit log's write path
-- -----------------------------------------------------------------------------
create or replace function private.check_run_holds_lease(p_run_id uuid) returns void
language plpgsql
set search_path = ''
as $$
declare
  run record;
begin
  -- Locks the run's row: a takeover (public.start_job_run) waits for this transaction,
  -- and after a takeover this refuses. The lease is renewed.
  select r.status, r.heartbeat_at, r.taken_over_by into run
    from public.job_runs r where r.id = p_run_id for update;
  if not found or run.status <> 'running' or run.heartbeat_at < now() - private.job_lease() then
    raise exception 'run % no longer holds its lease (%): it may claim, send and complete nothing',
      p_run_id,
      case when not found then 'no such run'
           when run.taken_over_by is not null then format('taken over by run %s', run.taken_over_by)
           when run.status <> 'running' then 'finished'
           else format('no heartbeat for %s', private.job_lease()) end
      using errcode = 'PT409';
  end if;
  update public.job_runs set heartbeat_at = now() where id = p_run_id;
end
$$;
comment on function private.check_run_holds_lease(uuid) is
  'Refuses (PT409) a run that is not running or whose lease ran out (the fencing of its writes); renews it.';

create or replace function private.send_window() returns interval
language sql immutable
set search_path = ''
as $$ select interval '25 minutes' $$;
comment on function private.send_window() is
  'A claimed change reaches Google Ads within this time of its claim or not at all: the sender starts '
  'within a minute of the claim, and the gateway gives up after 4 attempts of at most 300 s with '
  'backoff (under 22 minutes). Shorter than the 30-minute lease, so a run taken over has sent all it will.';

create or replace function public.log_budget_decisions(
  p_run_id uuid,
  p_day date,
  p_kind text,
  p_mode text,
  p_triggered_by text,
  p_decisions jsonb
)
returns table (id bigint, budget_resource_name text, status text, error text)
language plpgsql
set search_path = ''
as $$
declare
  today date := private.today_nl();
begin
  if jsonb_typeof(p_decisions) is distinct from 'array' then
    raise exception 'log_budget_decisions: p_decisions must be an array' using errcode = '22023';
  end if;
  if p_mode = 'live' and p_day is distinct from today then
    raise exception 'live changes are only for today (%), not %; other days can be dry-run only', today, p_day
      using errcode = '22023';
  end if;
  perform private.check_run_holds_lease(p_run_id);
  return query
  with d as (
    select r.*, row_number() over () as ord
    from jsonb_to_recordset(p_decisions) as r (
      segment_id uuid, customer_id text, campaign_id text, budget_resource_name text,
      action text, old_amount_micros bigint, new_amount_micros bigint, expected_gap numeric,
      inputs jsonb, reason text, skip_reason text)
  ),
  settings as (
    select o.changes_enabled, o.max_daily_change, o.account_daily_cap
    from public.orchestration_settings o
  ),
  judged as (
    select d.*, x.status, x.error
    from d
    cross join settings
    cross join lateral (
      select (select format('log #%s', prior.id)
                from public.channel_orchestration_log prior
               where prior.budget_resource_name = d.budget_resource_name and prior.day = p_day
                 and prior.kind = p_kind and prior.mode = 'live' and prior.action <> 'hold'
                 and prior.status in ('pending', 'sent', 'unknown', 'success')
               order by prior.id limit 1) as already,
             (select format('log #%s', doubt.id)
                from public.channel_orchestration_log doubt
               where doubt.budget_resource_name = d.budget_resource_name and doubt.mode = 'live'
                 and doubt.status in ('sent', 'unknown')
               limit 1) as in_doubt,
             private.budget_day_reference(d.budget_resource_name, today) as reference
    ) prior
    cross join lateral (
      select case
               when d.action = 'hold' then 'skipped'
               when d.skip_reason is not null then 'skipped'
               when p_mode = 'dry_run' then 'skipped'
               when p_mode = 'live' and prior.already is not null then 'skipped'
               when p_mode = 'live' and prior.in_doubt is not null then 'skipped'
               when p_mode = 'live' and abs(d.new_amount_micros - prior.reference)
                    > floor(prior.reference * settings.max_daily_change) then 'skipped'
               when not settings.changes_enabled then 'skipped'
               else 'pending'
             end as status,
             case
               when d.action = 'hold' then 'hold: ' || d.reason
               when d.skip_reason is not null then d.skip_reason
               when p_mode = 'dry_run' then 'dry run: not sent to Google Ads'
               when p_mode = 'live' and prior.already is not null
                 then format('already changed today (%s); not applied twice', prior.already)
               when p_mode = 'live' and prior.in_doubt is not null
                 then format('the outcome of %s is not known yet; nothing more is sent for this budget '
                             'until it is reconciled with Google Ads', prior.in_doubt)
               when p_mode = 'live' and abs(d.new_amount_micros - prior.reference)
                    > floor(prior.reference * settings.max_daily_change)
                 then format('more than %s %% from today''s starting budget of %s micros: not sent',
                             settings.max_daily_change * 100, prior.reference)
               when not settings.changes_enabled then 'kill switch is on: not sent'
             end as error
    ) x
  ),
  day_total as (
    -- The account daily cap: the day's budgets as they would stand with every change of this
    -- call that may be sent, raises not yet counted: budgets this call sends nothing for at
    -- their standing amount, its decreases at their new and its raises at their old amount.
    select (select coalesce(sum(sa.amount_micros), 0)
              from private.budget_standing_amounts(today) sa
             where not exists (select 1 from judged j
                                where j.status = 'pending'
                                  and j.budget_resource_name = sa.budget_resource_name))
           + (select coalesce(sum(case when j.action = 'increase' then j.old_amount_micros
                                       else j.new_amount_micros end), 0)
                from judged j where j.status = 'pending') as base,
           round(settings.account_daily_cap * 1000000)::bigint as cap
    from settings
    where settings.account_daily_cap is not null
  ),
  capped as (
    -- Raises count in the order given; one that would take the sum over the cap is skipped
    -- (and still counted: every later raise is skipped too).
    select j.*,
           case when j.status = 'pending' and j.action = 'increase'
                then dt.base + sum(j.new_amount_micros - j.old_amount_micros)
                       filter (where j.status = 'pending' and j.action = 'increase')
                       over (order by j.ord rows between unbounded preceding and current row)
           end as total,
           dt.cap
    from judged j
    left join day_total dt on true
  )
  insert into public.channel_orchestration_log as l (
    run_id, day, segment_id, kind, customer_id, campaign_id, budget_resource_name, action,
    old_amount_micros, new_amount_micros, change_pct, expected_gap, inputs, reason, mode, status, error,
    triggered_by, completed_at)
  select p_run_id, p_day, c.segment_id, p_kind, c.customer_id, c.campaign_id, c.budget_resource_name,
         c.action, c.old_amount_micros, c.new_amount_micros,
         round((c.new_amount_micros - c.old_amount_micros) * 100.0 / nullif(c.old_amount_micros, 0), 2),
         c.expected_gap, c.inputs, c.reason, p_mode,
         y.status, y.error, p_triggered_by,
         case when y.status = 'pending' then null else now() end
  from capped c
  cross join lateral (
    select case when c.total > c.cap then 'skipped' else c.status end as status,
           case when c.total > c.cap
                then format('the day''s budgets would sum to %s micros, over the account daily cap of '
                            '%s micros: not sent', c.total, c.cap)
                else c.error end as error
  ) y
  order by c.ord
  returning l.id, l.budget_resource_name, l.status, l.error;
end
$$;
comment on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) is
  'Write the decisions of a run to the audit log before anything is sent. Changes to send come back '
  'pending; holds, dry runs, kill-switch, in-doubt, beyond-limit, over-the-account-cap and already-applied '
  'changes come back skipped with why. Live only for today; only by a run that holds its lease.';

create or replace function private.settings_for_sending()
returns table (changes_enabled boolean, max_daily_change numeric)
language sql
security definer
set search_path = ''
as $$
  -- Read the kill switch now, and keep it from changing until the caller's transaction ends:
  -- an admin who turns it off waits for claims in progress, and every later claim sees it.
  select o.changes_enabled, o.max_daily_change from public.orchestration_settings o for share
$$;
comment on function private.settings_for_sending() is
  'The kill switch and daily limit, locked (for share) until the calling transaction ends.';
revoke execute on function private.settings_for_sending() from public, anon, authenticated;
grant execute on function private.settings_for_sending() to service_role;

create or replace function public.claim_budget_decisions(p_run_id uuid, p_ids bigint[])
returns table (id bigint, budget_resource_name text, new_amount_micros bigint, status text, error text)
language plpgsql
set search_path = ''
as $$
declare
  today date := private.today_nl();
  enabled boolean;
  max_change numeric;
  r record;
  reference bigint;
  doubt bigint;
  why text;
  cap bigint;
  total bigint;
  standing bigint;
begin
  perform private.check_run_holds_lease(p_run_id);
  select k.changes_enabled, k.max_daily_change into enabled, max_change
    from private.settings_for_sending() k;
  -- The account daily cap (its row is locked for share above): the sum of the day's
  -- budgets as they stand, kept while raises are claimed. One claim at a time counts it.
  cap := (select round(o.account_daily_cap * 1000000)::bigint from public.orchestration_settings o);
  if cap is not null then
    perform pg_advisory_xact_lock(hashtextextended('account_daily_cap', 0));
    total := (select coalesce(sum(sa.amount_micros), 0) from private.budget_standing_amounts(today) sa);
  end if;
  for r in
    select l.* from public.channel_orchestration_log l
     where l.id = any (p_ids) and l.run_id = p_run_id and l.status = 'pending'
     order by l.id
  loop
    why := null;
    if not coalesce(enabled, false) then
      why := 'kill switch is on at send time: not sent';
    elsif r.mode = 'live' then
      -- One claim per budget at a time, across runs and jobs.
      perform pg_advisory_xact_lock(hashtextextended(r.budget_resource_name, 0));
      reference := coalesce(private.budget_day_reference(r.budget_resource_name, today),
                            r.old_amount_micros);
      doubt := (select l.id from public.channel_orchestration_log l
                 where l.budget_resource_name = r.budget_resource_name and l.mode = 'live'
                   and l.status in ('sent', 'unknown')
                 limit 1);
      if r.day <> today then
        why := format('live changes are only sent on their own day (%s); today is %s', r.day, today);
      elsif doubt is not null then
        why := format('the outcome of log #%s is not known yet; not sent until it is reconciled', doubt);
      elsif abs(r.new_amount_micros - reference) > floor(reference * max_change) then
        why := format('more than %s %% from today''s starting budget of %s micros: not sent',
                      max_change * 100, reference);
      elsif cap is not null then
        -- A raise counts from what the budget stands at; a decrease is only counted once
        -- Google Ads confirmed it (a later claim), so a refused one cannot make room.
        standing := coalesce(private.budget_standing_amount(r.budget_resource_name, today),
                             r.old_amount_micros);
        if r.new_amount_micros > standing then
          if total + r.new_amount_micros - standing > cap then
            why := format('the day''s budgets would sum to %s micros, over the account daily cap of '
                          '%s micros: not sent', total + r.new_amount_micros - standing, cap);
          else
            total := total + r.new_amount_micros - standing;
          end if;
        end if;
      end if;
    end if;
    update public.channel_orchestration_log l
       set status = case when why is null then 'sent' else 'skipped' end,
           error = why,
           sent_on = case when why is null then today end,
           claimed_at = case when why is null then now() end,
           completed_at = case when why is null then null else now() end
     where l.id = r.id;
    id := r.id;
    budget_resource_name := r.budget_resource_name;
    new_amount_micros := r.new_amount_micros;
    status := case when why is null then 'sent' else 'skipped' end;
    error := why;
    return next;
  end loop;
end
$$;
comment on function public.claim_budget_decisions(uuid, bigint[]) is
  'Claim a run''s pending rows for sending, in one transaction that re-reads the kill switch, the '
  'daily limit of today''s starting budget, the account daily cap and the budgets in doubt: claimed rows come back sent '
  '(send them now, within private.send_window()), the others skipped with why. Refused (PT409) for '
  'a run without its lease.';

create or replace function public.complete_budget_decisions(p_run_id uuid, p_results jsonb) returns integer
language plpgsql
set search_path = ''
as $$
declare
  completed integer;
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception 'complete_budget_decisions: p_results must be an array' using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_results) as r (id bigint, status text, error text)
    where r.status is null or r.status not in ('success', 'failed', 'unknown')
       or (r.status in ('failed', 'unknown') and r.error is null)
  ) then
    raise exception 'complete_budget_decisions: status must be success, failed or unknown (with error)'
      using errcode = '22023';
  end if;
  perform private.check_run_holds_lease(p_run_id);
  update public.channel_orchestration_log l
     set status = r.status, error = r.error,
         completed_at = case when r.status = 'unknown' then null else now() end
    from jsonb_to_recordset(p_results) as r (id bigint, status text, error text)
   where l.id = r.id and l.run_id = p_run_id and l.status = 'sent';
  get diagnostics completed = row_count;
  return completed;
end
$$;
comment on function public.complete_budget_decisions(uuid, jsonb) is
  'Record Google Ads'' answer [{id, status, error}] for rows the run sent: success, failed (refused) '
  'or unknown (no clear answer; the budget stays blocked until reconciled). Only by the lease holder.';

create or replace function public.open_budget_decisions()
returns table (id bigint, budget_resource_name text, kind text, mode text, status text,
               old_amount_micros bigint, new_amount_micros bigint, reconcilable boolean)
language sql stable
set search_path = ''
as $$
  -- Rows left open by runs that ended or lost their lease: pending (never sent) or in
  -- doubt. A sent row of a run that was taken over (and so may still be alive) becomes
  -- reconcilable only once its send window has passed.
  select l.id, l.budget_resource_name, l.kind, l.mode, l.status, l.old_amount_micros,
         l.new_amount_micros,
         l.status in ('pending', 'unknown')
           or (r.status <> 'running' and r.taken_over_by is null)
           or l.claimed_at < now() - private.send_window() - interval '1 minute'
  from public.channel_orchestration_log l
  join public.job_runs r on r.id = l.run_id
  where l.status in ('pending', 'sent', 'unknown')
    and (r.status <> 'running' or r.heartbeat_at < now() - private.job_lease())
  order by l.id
$$;
comment on function public.open_budget_decisions() is
  'Audit rows left pending or in doubt by runs that ended or lost their lease, and whether each can '
  'be reconciled now.';

create or replace function public.reconcile_budget_decisions(p_run_id uuid, p_observed jsonb) returns integer
language plpgsql
set search_path = ''
as $$
declare
  done integer;
begin
  -- p_observed: [{budget_resource_name, amount_micros}] as Google Ads holds them now.
  if jsonb_typeof(p_observed) is distinct from 'array' then
    raise exception 'reconcile_budget_decisions: p_observed must be an array' using errcode = '22023';
  end if;
  perform private.check_run_holds_lease(p_run_id);
  with open as (
    select o.* from public.open_budget_decisions() o where o.reconcilable
  ),
  seen as (
    select r.budget_resource_name, r.amount_micros
    from jsonb_to_recordset(p_observed) as r (budget_resource_name text, amount_micros bigint)
  ),
  outcome as (
    select o.id,
           case
             when o.status = 'pending' then 'skipped'
             when o.mode <> 'live' then 'failed'
             when s.amount_micros = o.new_amount_micros then 'success'
             else 'failed'
           end as status,
           case
             when o.status = 'pending' then 'never sent: the run stopped before sending it'
             when o.mode <> 'live' then 'reconciled: the run stopped before Google Ads answered'
             when s.amount_micros = o.new_amount_micros then 'reconciled: found applied'
             when s.amount_micros = o.old_amount_micros
               then 'reconciled: not applied; Google Ads holds the old amount'
             when s.amount_micros is null then 'reconciled: the budget was not found in Google Ads'
             else format('reconciled: not applied; Google Ads holds %s micros', s.amount_micros)
           end as error
    from open o
    left join seen s on s.budget_resource_name = o.budget_resource_name
    where o.status = 'pending' or o.mode <> 'live' or s.budget_resource_name is not null
  )
  update public.channel_orchestration_log l
     set status = outcome.status, error = outcome.error, completed_at = now()
    from outcome
   where l.id = outcome.id;
  get diagnostics done = row_count;
  return done;
end
$$;
comment on function public.reconcile_budget_decisions(uuid, jsonb) is
  'Settle rows that ended runs left open, from the budgets Google Ads holds now: never-sent rows '
  'become skipped, in-doubt rows success (found applied) or failed (not applied). Only by a lease holder.';

create or replace function public.rollback_candidates(p_day date)
returns table (segment_id uuid, customer_id text, campaign_id text, budget_resource_name text,
               restore_amount_micros bigint, changed_amount_micros bigint, log_id bigint)
language sql stable
set search_path = ''
as $$
  select distinct on (l.budget_resource_name)
         l.segment_id, l.customer_id, l.campaign_id, l.budget_resource_name,
         private.budget_day_reference(l.budget_resource_name, p_day), l.new_amount_micros, l.id
  from public.channel_orchestration_log l
  where l.sent_on = p_day and l.kind = 'adjust' and l.mode = 'live' and l.status = 'success'
    and l.action <> 'hold'
    and not exists (
      select 1 from public.channel_orchestration_log r
      where r.day = p_day and r.kind = 'rollback' and r.mode = 'live' and r.status = 'success'
        and r.budget_resource_name = l.budget_resource_name
    )
  order by l.budget_resource_name, l.id
$$;
comment on function public.rollback_candidates(date) is
  'Budgets changed live on a day and not yet rolled back, with the amount they had when the day began.';

create or replace function public.orchestration_settings_get()
returns jsonb
language sql stable
set search_path = ''
as $$
  -- The whole row, so that a parameter added to the table reaches the jobs without a second list.
  select to_jsonb(o) - 'id' - 'updated_at' - 'updated_by' from public.orchestration_settings o
$$;
comment on function public.orchestration_settings_get() is
  'The settings row as one object: the kill switch, the daily change limit and every controller and '
  'planning parameter.';

revoke execute on function public.campaign_customer_ids() from public, anon, authenticated;
revoke execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) from public, anon, authenticated;
revoke execute on function public.claim_budget_decisions(uuid, bigint[]) from public, anon, authenticated;
revoke execute on function public.complete_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function public.open_budget_decisions() from public, anon, authenticated;
revoke execute on function public.reconcile_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function private.check_run_holds_lease(uuid) from public, anon, authenticated;
revoke execute on function private.budget_day_reference(text, date) from public, anon, authenticated;
revoke execute on function private.send_window() from public, anon;
revoke execute on function public.rollback_candidates(date) from public, anon, authenticated;
revoke execute on function public.orchestration_settings_get() from public, anon;
grant execute on function public.campaign_customer_ids() to service_role;
grant execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) to service_role;
grant execute on function public.claim_budget_decisions(uuid, bigint[]) to service_role;
grant execute on function public.complete_budget_decisions(uuid, jsonb) to service_role;
grant execute on function public.open_budget_decisions() to service_role;
grant execute on function public.reconcile_budget_decisions(uuid, jsonb) to service_role;
grant execute on function private.check_run_holds_lease(uuid) to service_role;
grant execute on function private.budget_day_reference(text, date) to service_role;
grant execute on function private.send_window() to authenticated, service_role;
grant execute on function public.rollback_candidates(date) to service_role;
grant execute on function public.orchestration_settings_get() to authenticated, service_role;

-- =============================================================================
-- Economics, the account cap and the learned response (the controller's inputs):
--
--   orchestration_settings   (above) account_daily_cap, min_margin and the estimator's
--                              parameters: their one home, read by SQL and (through
--                              orchestration_settings_get) by Python
--   orchestration_settings_history   append-only audit of every settings change
--   industry_economics       an industry's own minimum margin (overrides the setting)
--   segment_response_estimates  per segment and day: value of an accepted lead,
--                              elasticity with its uncertainty, scale
--   estimate_segment_responses(day)  computes them, set-based, from compact daily
--                              summaries (Google Ads metrics, stats)
-- =============================================================================

-- Admins change these in the SQL editor (like the kill switch): no API role is granted the
-- table, so pg_graphql shows it to no one (lint pg_graphql_admin_table_exposed).

-- Audit: every change of the settings, who made it and what it was before and after.
create table public.orchestration_settings_history (
  id bigint generated always as identity primary key,
  changed_at timestamptz not null default now(),
  changed_by uuid,
  old_settings jsonb not null,
  new_settings jsonb not null
);
comment on table public.orchestration_settings_history is
  'Append-only audit of orchestration_settings: every change (kill switch, daily limit, cap, margins, '
  'controller parameters) with who made it. Admin-only.';
alter table public.orchestration_settings_history enable row level security;
revoke all on table public.orchestration_settings_history from anon, authenticated, service_role;
grant select on table public.orchestration_settings_history to service_role;
create policy "Admins can read the settings history"
  on public.orchestration_settings_history for select to authenticated
  using ((select private.is_admin()));

create or replace function private.audit_settings_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.orchestration_settings_history (changed_by, old_settings, new_settings)
  values (new.updated_by, to_jsonb(old) - 'updated_at' - 'updated_by',
          to_jsonb(new) - 'updated_at' - 'updated_by');
  return new;
end
$$;
revoke execute on function private.audit_settings_change() from public, anon, authenticated;
create trigger orchestration_settings_audit
  after update on public.orchestration_settings
  for each row execute function private.audit_settings_change();

-- An industry's own minimum margin.
create table public.industry_economics (
  industry_id uuid primary key references public.industries (id) on delete cascade,
  min_margin numeric(4, 3) not null check (min_margin >= 0 and min_margin < 1),
  updated_at timestamptz not null default now()
);
comment on table public.industry_economics is
  'Per industry: the minimum margin on an accepted lead (overrides orchestration_settings.min_margin). Admin-only.';
alter table public.industry_economics enable row level security;
revoke all on table public.industry_economics from anon, authenticated, service_role;
grant select on table public.industry_economics to service_role;
create policy "Admins can read industry economics"
  on public.industry_economics for select to authenticated using ((select private.is_admin()));
create policy "Admins can add industry economics"
  on public.industry_economics for insert to authenticated with check ((select private.is_admin()));
create policy "Admins can change industry economics"
  on public.industry_economics for update to authenticated
  using ((select private.is_admin())) with check ((select private.is_admin()));
create policy "Admins can remove industry economics"
  on public.industry_economics for delete to authenticated using ((select private.is_admin()));

-- Each segment's estimated response and economics, per day they were computed for.
create table public.segment_response_estimates (
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  day date not null,
  lead_value numeric(12, 2),
  lead_value_source text not null check (lead_value_source in ('segment', 'industry', 'all', 'none')),
  elasticity numeric(6, 4) not null check (elasticity > 0 and elasticity <= 1),
  elasticity_sd numeric(6, 4) not null check (elasticity_sd >= 0),
  own_elasticity numeric(8, 4),
  own_elasticity_sd numeric(10, 4),
  pooled_elasticity numeric(6, 4) not null,
  scale numeric(14, 6),
  days_used integer not null default 0,
  computed_at timestamptz not null default now(),
  primary key (segment_id, day)
);
create index segment_response_estimates_day_idx on public.segment_response_estimates (day);
comment on table public.segment_response_estimates is
  'Per segment and day: value of an accepted lead and the spend -> paid leads curve '
  '(paid leads/day = scale x spend ^ elasticity, spend in euro/day), elasticity with its standard '
  'deviation, pooled toward the industry''s and province''s when the segment''s own data say little. '
  'Written by estimate_segment_responses; admin-only. See docs/FORMULAS.md.';
alter table public.segment_response_estimates enable row level security;
revoke all on table public.segment_response_estimates from anon, authenticated, service_role;
grant select on table public.segment_response_estimates to service_role;
create policy "Admins can read response estimates"
  on public.segment_response_estimates for select to authenticated
  using ((select private.is_admin()));

create or replace function public.estimate_segment_responses(p_day date)
returns integer
language sql
security definer
set search_path = ''
as $$
  with params as (
    select o.prior_elasticity as e0, o.elasticity_spread as tau,
           o.response_window_days as w, o.value_window_days as vw, o.saturation_lost_share as sat,
           o.elasticity_min as e_min, o.elasticity_max as e_max, o.demand_variance as dv,
           o.scale_window_days as sw, o.min_accepted_for_value as min_acc
    from public.orchestration_settings o
    limit 1  -- one row; without statistics the planner guesses 530 (bench/RESULTS.md)
  ),
  segments as (
    select s.id as segment_id, s.industry_id, s.region_code
    from public.lead_segments s where s.is_active
  ),
  daily as (
    -- Per segment and click day: spend (euro) and Google Ads conversions (on the click's
    -- day), on days the budget limited (impressions lost to budget): there, spend is what
    -- the budget let through, not what demand asked for.
    select cb.segment_id, m.day,
           sum(m.cost_micros) / 1e6 as spend, sum(m.conversions) as conversions,
           max(m.search_budget_lost_impression_share) as lost
    from public.segment_campaign_budgets cb
    join public.ad_campaign_daily_metrics m
      on m.customer_id = cb.customer_id and m.campaign_id = cb.campaign_id
    cross join params p
    where cb.is_active and m.day >= p_day - p.w and m.day < p_day
    group by cb.segment_id, m.day
  ),
  halves as (
    -- The segment's budget-limited days split at the median spend; the elasticity is the
    -- ratio of log means between the halves (a grouping estimator: no log of small counts,
    -- which biases a least-squares slope on 1-3 leads a day toward 0).
    select h.segment_id, h.half, count(*) as n, avg(h.spend) as spend,
           avg(h.conversions) as conversions, sum(h.conversions) as total
    from (select d.*, ntile(2) over (partition by d.segment_id order by d.spend) as half
          from daily d cross join params p
          where d.spend > 0 and coalesce(d.lost, 0) >= p.sat) h
    group by h.segment_id, h.half
  ),
  pairs as (
    -- Both halves on one row, by one grouping (a self-join of the halves, whose row count
    -- the planner cannot estimate, became a 10,000 x 10,000 nested loop at 10,000 segments).
    select h.segment_id,
           max(h.n) filter (where h.half = 1) as lo_n, max(h.n) filter (where h.half = 2) as hi_n,
           max(h.spend) filter (where h.half = 1) as lo_spend,
           max(h.spend) filter (where h.half = 2) as hi_spend,
           max(h.conversions) filter (where h.half = 1) as lo_conversions,
           max(h.conversions) filter (where h.half = 2) as hi_conversions,
           max(h.total) filter (where h.half = 1) as lo_total,
           max(h.total) filter (where h.half = 2) as hi_total
    from halves h
    group by h.segment_id
  ),
  own as (
    -- var(ln mean) of a half: Poisson (1 / its leads) plus day-to-day demand
    -- (demand_variance / days).
    select pr.segment_id, pr.lo_n + pr.hi_n as n,
           ln(pr.hi_conversions / pr.lo_conversions) / ln(pr.hi_spend / pr.lo_spend) as slope,
           (1 / pr.hi_total + p.dv / pr.hi_n + 1 / pr.lo_total + p.dv / pr.lo_n)
             / ln(pr.hi_spend / pr.lo_spend) ^ 2 as var
    from pairs pr cross join params p
    where pr.lo_total > 0 and pr.hi_total > 0 and pr.hi_spend > pr.lo_spend * 1.01
  ),
  with_own as (
    select s.*, o.n, o.slope, o.var
    from segments s left join own o on o.segment_id = s.segment_id
  ),
  industry_pool as (
    -- Precision-weighted mean of the industry's segments and the prior.
    select w.industry_id,
           (p.e0 / p.tau ^ 2 + coalesce(sum(w.slope / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / p.tau ^ 2 + coalesce(sum(1 / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w cross join params p
    group by w.industry_id, p.e0, p.tau
  ),
  province_pool as (
    select w.region_code,
           (p.e0 / p.tau ^ 2 + coalesce(sum(w.slope / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / p.tau ^ 2 + coalesce(sum(1 / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w cross join params p
    group by w.region_code, p.e0, p.tau
  ),
  posterior as (
    select w.segment_id, w.industry_id, w.n, w.slope, w.var,
           (ip.e + pp.e) / 2 as pooled,
           case when w.var is null then (ip.e + pp.e) / 2
                else (w.slope / w.var + (ip.e + pp.e) / 2 / p.tau ^ 2) / (1 / w.var + 1 / p.tau ^ 2)
           end as e,
           case when w.var is null then p.tau
                else sqrt(1 / (1 / w.var + 1 / p.tau ^ 2)) end as sd
    from with_own w
    cross join params p
    join industry_pool ip on ip.industry_id = w.industry_id
    join province_pool pp on pp.region_code = w.region_code
  ),
  scaled as (
    -- Scale at the estimated elasticity over the last scale_window_days (recent: costs drift).
    select po.segment_id,
           sum(d.conversions)
             / nullif(sum(power(d.spend::float8, least(greatest(po.e, p.e_min), p.e_max)::float8)::numeric), 0) as scale
    from posterior po
    cross join params p
    join daily d on d.segment_id = po.segment_id and d.day >= p_day - p.sw and d.spend > 0
    group by po.segment_id
  ),
  value_window as (
    select st.segment_id, sum(st.revenue) as revenue, sum(st.leads_accepted) as accepted
    from public.lead_generation_stats st cross join params p
    where st.day >= p_day - p.vw and st.day < p_day
    group by st.segment_id
  ),
  value_of as (
    -- The segment's mean price of an accepted lead; with fewer than min_accepted_for_value
    -- accepted leads its industry's, then every segment's; none: no value known (no economics rule).
    select s.segment_id,
           case when v.accepted >= p.min_acc then v.revenue / v.accepted
                when iv.accepted >= p.min_acc then iv.revenue / iv.accepted
                when av.accepted >= p.min_acc then av.revenue / av.accepted end as value,
           case when v.accepted >= p.min_acc then 'segment' when iv.accepted >= p.min_acc then 'industry'
                when av.accepted >= p.min_acc then 'all' else 'none' end as source
    from segments s
    cross join params p
    left join value_window v on v.segment_id = s.segment_id
    left join (select s2.industry_id, sum(v2.revenue) as revenue, sum(v2.accepted) as accepted
               from value_window v2 join segments s2 on s2.segment_id = v2.segment_id
               group by s2.industry_id) iv on iv.industry_id = s.industry_id
    cross join (select sum(v3.revenue) as revenue, sum(v3.accepted) as accepted from value_window v3) av
  ),
  written as (
    insert into public.segment_response_estimates as r
      (segment_id, day, lead_value, lead_value_source, elasticity, elasticity_sd, own_elasticity,
       own_elasticity_sd, pooled_elasticity, scale, days_used, computed_at)
    select po.segment_id, p_day, round(vo.value::numeric, 2), vo.source,
           round(least(greatest(po.e, p.e_min), p.e_max)::numeric, 4), round(po.sd::numeric, 4),
           case when po.slope is not null then round(least(greatest(po.slope, -999), 999)::numeric, 4) end,
           case when po.var is not null then round(least(sqrt(po.var), 999999)::numeric, 4) end,
           round(least(greatest(po.pooled, p.e_min), p.e_max)::numeric, 4),
           round(least(sc.scale, 99999999)::numeric, 6), coalesce(po.n, 0)::integer, now()
    from posterior po
    cross join params p
    join value_of vo on vo.segment_id = po.segment_id
    left join scaled sc on sc.segment_id = po.segment_id
    on conflict (segment_id, day) do update set
      lead_value = excluded.lead_value, lead_value_source = excluded.lead_value_source,
      elasticity = excluded.elasticity, elasticity_sd = excluded.elasticity_sd,
      own_elasticity = excluded.own_elasticity, own_elasticity_sd = excluded.own_elasticity_sd,
      pooled_elasticity = excluded.pooled_elasticity, scale = excluded.scale,
      days_used = excluded.days_used, computed_at = excluded.computed_at
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function public.estimate_segment_responses(date) is
  'Estimate every active segment''s value of an accepted lead and spend -> paid leads curve for a day '
  '(from the days before it) into segment_response_estimates; returns how many. See docs/FORMULAS.md.';
revoke execute on function public.estimate_segment_responses(date) from public, anon, authenticated;
grant execute on function public.estimate_segment_responses(date) to service_role;

-- =============================================================================
-- The controller's inputs, measured at the current spend, with the economics.
--
-- The trailing week's mean leads lag every budget change by up to a week (and the
-- conversions of a day's clicks arrive over up to three days), so a controller
-- fed that mean keeps pushing after its last change already closes the gap, and
-- overshoots. Each day's paid leads are now scaled to yesterday's spend with the
-- segment's estimated response curve (paid leads grow like spend ^ e, e from
-- segment_response_estimates, else orchestration_settings.prior_elasticity):
--
--   expected_leads = mean over the week of
--                    (leads - paid leads + paid leads x (spend yesterday / spend that day) ^ e)
--
-- Everything else (target, paid leads, spend, data age, lost impression share)
-- comes from the plans, the stats and the Google Ads metrics. Found with `leadflow simulate`
-- (bench/RESULTS.md, "Controller simulation").
--
-- Issue #11 adds, per budget: the value of an accepted lead, the acceptance rate of
-- the day's plan, the minimum margin (industry's, else the setting), the segment's
-- elasticity and its standard deviation, and the account's daily cap.
-- =============================================================================

create or replace function public.orchestration_inputs(p_day date)
returns table (
  segment_id uuid,
  code text,
  customer_id text,
  campaign_id text,
  budget_resource_name text,
  budgets_in_segment integer,
  min_budget_micros bigint,
  max_budget_micros bigint,
  target_cpl_micros bigint,
  has_plan boolean,
  target_leads numeric,
  expected_leads numeric,
  paid_leads numeric,
  spend_micros bigint,
  data_age_days integer,
  lost_impression_share_budget numeric,
  lead_value_micros bigint,
  acceptance_rate numeric,
  min_margin numeric,
  lead_elasticity numeric,
  lead_elasticity_sd numeric,
  account_daily_cap_micros bigint,
  day_factor numeric,
  organic_leads numeric
)
language sql stable
set search_path = ''
as $$
  with settings as (
    select o.account_daily_cap, o.min_margin, o.prior_elasticity, o.elasticity_spread,
           o.response_window_days, o.forecast_prior_leads, o.steering_window_days,
           o.scale_window_days, o.estimate_max_age_days
    from public.orchestration_settings o
    limit 1  -- one row; without statistics the planner guesses 530 (bench/RESULTS.md)
  ),
  response as (
    -- The newest estimate up to the day (estimate_segment_responses, run by orchestrate), of
    -- the last estimate_max_age_days.
    select distinct on (r.segment_id) r.segment_id, r.lead_value, r.elasticity, r.elasticity_sd
    from public.segment_response_estimates r
    cross join settings se
    where r.day <= p_day and r.day > p_day - se.estimate_max_age_days
    order by r.segment_id, r.day desc
  ),
  budgets as (
    select s.id as segment_id, s.code, s.min_daily_budget, s.max_daily_budget, s.target_cpl,
           s.industry_id,
           cb.customer_id, cb.campaign_id, cb.budget_resource_name,
           count(*) over (partition by s.id) as n
    from public.lead_segments s
    join public.segment_campaign_budgets cb on cb.segment_id = s.id and cb.is_active
    where s.is_active
  ),
  targets as (
    -- Trailing steering window of targets ending today (whole weeks: each weekday equally).
    select p.segment_id, avg(p.target_leads) as target,
           bool_or(p.day = p_day) as has_today,
           max(p.acceptance_rate) filter (where p.day = p_day) as acceptance_rate
    from public.lead_segment_plans p
    cross join settings se
    where p.day > p_day - se.steering_window_days and p.day <= p_day
    group by p.segment_id
  ),
  week_spend as (
    -- Trailing steering window of measured days before today: the spend the CPL is measured at.
    select st.segment_id, avg(st.ad_spend) as spend
    from public.lead_generation_stats st
    cross join settings se
    where st.day >= p_day - se.steering_window_days and st.day < p_day
    group by st.segment_id
  ),
  actuals as (
    -- Paid leads per day at the week's spend: the last scale_window_days (two weeks: half
    -- the noise of one), each day's paid leads scaled to that spend along the segment's
    -- curve (a budget change counts at once). A day without spend counts as it was.
    select st.segment_id,
           avg(st.leads_google_ads * case
                 when st.ad_spend > 0 and ws.spend > 0
                 then power((ws.spend / st.ad_spend)::float8, coalesce(r.elasticity, se.prior_elasticity)::float8)::numeric
                 else 1 end) as paid,
           ws.spend
    from public.lead_generation_stats st
    cross join settings se
    join week_spend ws on ws.segment_id = st.segment_id
    left join response r on r.segment_id = st.segment_id
    where st.day >= p_day - se.scale_window_days and st.day < p_day
    group by st.segment_id, ws.spend
  ),
  yesterday as (
    select st.segment_id, st.ad_spend as spend
    from public.lead_generation_stats st
    where st.day = p_day - 1
  ),
  at_current_spend as (
    -- The trailing week's leads, each day's paid leads scaled to yesterday's spend: paid
    -- leads grow like spend ^ e (the segment's estimated elasticity, else the prior).
    -- A day without spend to compare counts as it was.
    select st.segment_id,
           avg(st.leads_generated - st.leads_google_ads) as organic,
           avg(st.leads_generated - st.leads_google_ads + st.leads_google_ads * case
                 when st.ad_spend > 0 and y.spend > 0
                 then power((y.spend / st.ad_spend)::float8, coalesce(r.elasticity, se.prior_elasticity)::float8)::numeric
                 else 1 end) as expected
    from public.lead_generation_stats st
    cross join settings se
    left join yesterday y on y.segment_id = st.segment_id
    left join response r on r.segment_id = st.segment_id
    where st.day >= p_day - se.steering_window_days and st.day < p_day
    group by st.segment_id
  ),
  pattern as (
    -- The forecast: per industry and kind of day (ISO weekday 1-7; 0 a public holiday), its
    -- leads (all channels) and days over the response window.
    select s.industry_id,
           case when h.day is not null then 0 else extract(isodow from st.day)::integer end as kind,
           sum(st.leads_generated) as leads, count(distinct st.day) as days
    from public.lead_generation_stats st
    join public.lead_segments s on s.id = st.segment_id
    left join public.public_holidays h on h.day = st.day
    cross join settings se
    where st.day >= p_day - se.response_window_days and st.day < p_day
    group by s.industry_id, 2
  ),
  factors as (
    -- A kind of day's leads against what the industry's mean day gives, shrunk toward 1
    -- by forecast_prior_leads.
    select pt.industry_id, pt.kind,
           (pt.leads + se.forecast_prior_leads)
           / (pt.days * tot.leads / tot.days + se.forecast_prior_leads) as factor
    from pattern pt
    join (select p2.industry_id, sum(p2.leads) as leads, sum(p2.days) as days
          from pattern p2 group by p2.industry_id) tot on tot.industry_id = pt.industry_id
    cross join settings se
  ),
  day_kinds as (
    select g.day::date as day,
           case when h.day is not null then 0 else extract(isodow from g.day)::integer end as kind
    from settings se
    cross join generate_series(p_day - se.steering_window_days, p_day, interval '1 day') as g (day)
    left join public.public_holidays h on h.day = g.day::date
  ),
  forecast as (
    -- The day's factor over the mean factor of the trailing week the leads are measured on;
    -- a kind without data counts 1.
    select i.industry_id,
           max(coalesce(f.factor, 1)) filter (where dk.day = p_day)
           / avg(coalesce(f.factor, 1)) filter (where dk.day < p_day) as factor
    from (select distinct f2.industry_id from factors f2) i
    cross join day_kinds dk
    left join factors f on f.industry_id = i.industry_id and f.kind = dk.kind
    group by i.industry_id
  ),
  newest as (
    select st.segment_id, max(st.day) as day
    from public.lead_generation_stats st
    where st.day < p_day and st.day >= p_day - 60
    group by st.segment_id
  )
  select b.segment_id, b.code, b.customer_id, b.campaign_id, b.budget_resource_name, b.n::integer,
         round(b.min_daily_budget * 1000000)::bigint,
         round(b.max_daily_budget * 1000000)::bigint,
         round(b.target_cpl * 1000000)::bigint,
         coalesce(t.has_today, false),
         round(t.target / b.n, 4),
         round(e.expected / b.n, 4),
         round(a.paid / b.n, 4),
         round(a.spend * 1000000 / b.n)::bigint,
         (p_day - nw.day)::integer,
         m.search_budget_lost_impression_share,
         round(r.lead_value * 1000000)::bigint,
         t.acceptance_rate,
         coalesce(ie.min_margin, se.min_margin),
         coalesce(r.elasticity, se.prior_elasticity),
         coalesce(r.elasticity_sd, se.elasticity_spread),
         round(se.account_daily_cap * 1000000)::bigint,
         round(coalesce(fc.factor, 1), 4),
         round(e.organic * coalesce(fc.factor, 1) / b.n, 4)
  from budgets b
  cross join settings se
  left join response r on r.segment_id = b.segment_id
  left join public.industry_economics ie on ie.industry_id = b.industry_id
  left join targets t on t.segment_id = b.segment_id
  left join actuals a on a.segment_id = b.segment_id
  left join at_current_spend e on e.segment_id = b.segment_id
  left join newest nw on nw.segment_id = b.segment_id
  left join forecast fc on fc.industry_id = b.industry_id
  left join public.ad_campaign_daily_metrics m
    on m.customer_id = b.customer_id and m.campaign_id = b.campaign_id and m.day = p_day - 1
  order by b.code, b.budget_resource_name
$$;
comment on function public.orchestration_inputs(date) is
  'Per active mapped budget: bounds, average target and leads at yesterday''s spend over the trailing '
  'steering window (steering_window_days; each day''s paid leads x (spend yesterday / spend that day) ^ e, '
  'e the segment''s estimated '
  'elasticity), paid leads and spend (split evenly over a segment''s budgets), data age, lost impression '
  'share; value of an accepted lead, acceptance rate, minimum margin, elasticity and its standard '
  'deviation, the account daily cap, and the forecast: the day''s weekday/holiday factor of the '
  'industry over the trailing week''s (day_factor) and the organic leads expected on the day. '
  'See docs/FORMULAS.md.';
revoke execute on function public.orchestration_inputs(date) from public, anon, authenticated;
grant execute on function public.orchestration_inputs(date) to service_role;

-- =============================================================================
-- The operator's day (issue #14), self-contained:
--   1. the budgets Google Ads last reported, kept by the jobs on every read, so
--      that a dry run or a rollback can be previewed without credentials;
--   2. alerts: what needs a human after a job run, and what was already sent
--      (one alert per kind and subject per day).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- 1. Budgets as last seen
-- -----------------------------------------------------------------------------
create table private.budget_observations (
  budget_resource_name text primary key,
  amount_micros bigint not null check (amount_micros >= 0),
  explicitly_shared boolean not null default false,
  reference_count integer not null default 1,
  period text not null default 'DAILY',
  observed_at timestamptz not null default now()
);
comment on table private.budget_observations is
  'The amount (and sharing) of each campaign budget as Google Ads last reported it to a job.';
revoke all on table private.budget_observations from public, anon, authenticated, service_role;

create or replace function private.budget_standing_amounts(p_day date)
returns table (budget_resource_name text, amount_micros bigint)
language sql stable
security definer
set search_path = ''
as $$
  -- Every active mapped budget as it stands on the day, for the account daily cap: the
  -- amount of its newest live change sent that day (applied: the new amount; sent or of
  -- unknown outcome: the higher of old and new), else what Google Ads last reported to a
  -- job (private.budget_observations), else 0.
  select cb.budget_resource_name,
         coalesce(t.amount_micros, o.amount_micros, 0)::bigint
  from public.segment_campaign_budgets cb
  join public.lead_segments s on s.id = cb.segment_id and s.is_active
  left join private.budget_observations o on o.budget_resource_name = cb.budget_resource_name
  left join (
    select distinct on (l.budget_resource_name) l.budget_resource_name,
           case when l.status = 'success' then l.new_amount_micros
                else greatest(l.old_amount_micros, l.new_amount_micros) end as amount_micros
    from public.channel_orchestration_log l
    where l.sent_on = p_day and l.mode = 'live' and l.status in ('sent', 'unknown', 'success')
    order by l.budget_resource_name, l.id desc
  ) t on t.budget_resource_name = cb.budget_resource_name
  where cb.is_active
$$;
comment on function private.budget_standing_amounts(date) is
  'Each active mapped budget''s amount on a day, for the account daily cap: its newest live change '
  'sent that day (applied: new; sent or unknown: the higher of old and new), else the amount Google Ads '
  'last reported (budget_observations), else 0.';
revoke execute on function private.budget_standing_amounts(date) from public, anon, authenticated;
grant execute on function private.budget_standing_amounts(date) to service_role;

create or replace function private.budget_standing_amount(p_budget text, p_day date) returns bigint
language sql stable
security definer
set search_path = ''
as $$
  -- One budget's row of private.budget_standing_amounts (the same rule), by its indexes;
  -- null: neither changed that day nor ever reported.
  select coalesce(
    (select case when l.status = 'success' then l.new_amount_micros
                 else greatest(l.old_amount_micros, l.new_amount_micros) end
       from public.channel_orchestration_log l
      where l.budget_resource_name = p_budget and l.sent_on = p_day and l.mode = 'live'
        and l.status in ('sent', 'unknown', 'success')
      order by l.id desc
      limit 1),
    (select o.amount_micros from private.budget_observations o where o.budget_resource_name = p_budget))
$$;
comment on function private.budget_standing_amount(text, date) is
  'One budget''s amount on a day, for the account daily cap (the rule of budget_standing_amounts).';
revoke execute on function private.budget_standing_amount(text, date) from public, anon, authenticated;
grant execute on function private.budget_standing_amount(text, date) to service_role;

create or replace function public.record_budget_observations(p_observed jsonb) returns integer
language sql volatile
security definer
set search_path = ''
as $$
  with seen as (
    select distinct on (x.budget_resource_name) x.*
    from jsonb_to_recordset(coalesce(p_observed, '[]'::jsonb)) as x (
      budget_resource_name text, amount_micros bigint, explicitly_shared boolean,
      reference_count integer, period text)
    where x.budget_resource_name is not null and x.amount_micros is not null
  ),
  written as (
    insert into private.budget_observations as o
      (budget_resource_name, amount_micros, explicitly_shared, reference_count, period, observed_at)
    select s.budget_resource_name, s.amount_micros, coalesce(s.explicitly_shared, false),
           coalesce(s.reference_count, 1), coalesce(s.period, 'DAILY'), now()
    from seen s
    on conflict (budget_resource_name) do update
      set amount_micros = excluded.amount_micros,
          explicitly_shared = excluded.explicitly_shared,
          reference_count = excluded.reference_count,
          period = excluded.period,
          observed_at = excluded.observed_at
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function public.record_budget_observations(jsonb) is
  'Keeps what Google Ads reported for each budget ([{budget_resource_name, amount_micros, ...}]).';

create or replace function public.last_seen_budgets(p_names text[])
returns table (
  budget_resource_name text,
  amount_micros bigint,
  explicitly_shared boolean,
  reference_count integer,
  period text,
  seen_at timestamptz
)
language sql stable
security definer
set search_path = ''
as $$
  -- A live change applied after the observation is what the budget holds now.
  select o.budget_resource_name,
         coalesce(applied.new_amount_micros, o.amount_micros),
         o.explicitly_shared, o.reference_count, o.period,
         coalesce(applied.completed_at, o.observed_at)
  from private.budget_observations o
  left join lateral (
    select l.new_amount_micros, l.completed_at
    from public.channel_orchestration_log l
    where l.budget_resource_name = o.budget_resource_name
      and l.mode = 'live' and l.status = 'success' and l.completed_at > o.observed_at
    order by l.completed_at desc, l.id desc
    limit 1
  ) applied on true
  where o.budget_resource_name = any (p_names)
$$;
comment on function public.last_seen_budgets(text[]) is
  'Each budget as the jobs last saw it (Google Ads'' report, or a later applied change), and when.';

-- -----------------------------------------------------------------------------
-- 2. Alerts
-- -----------------------------------------------------------------------------
create table private.alerts_sent (
  day date not null,
  kind text not null
    check (kind in ('job_failed', 'capacity_unreachable', 'unprofitable', 'kill_switch')),
  subject text not null,
  message text not null,
  targets integer not null check (targets >= 0),
  sent_at timestamptz not null default now(),
  primary key (day, kind, subject)
);
comment on table private.alerts_sent is
  'Alerts sent to the operators: one per kind and subject (segment code, job, switch state) per day.';
revoke all on table private.alerts_sent from public, anon, authenticated, service_role;

create or replace function public.alert_candidates(p_day date)
returns table (kind text, subject text, message text)
language sql stable
security definer
set search_path = ''
as $$
  with candidates as (
    -- A job run for the day that failed.
    select 'job_failed'::text as kind, r.job as subject,
           format('%s for %s failed: %s', r.job, r.day, left(r.error, 300)) as message
    from (select distinct on (j.job) j.job, j.day, j.error
          from public.job_runs j
          where j.day = p_day and j.status = 'failed'
          order by j.job, j.started_at desc) r
    union all
    -- The day's decisions put the segment at its maximum budget and it is still under target.
    select 'capacity_unreachable', s.code,
           format('%s is at its maximum budget (%s euro/day) and still %s leads/day under target',
                  s.code, s.max_daily_budget, round(d.expected_gap, 1))
    from public.lead_segment_days d
    join public.lead_segments s on s.id = d.segment_id
    where d.day = p_day and s.is_active
      and d.expected_gap > 0 and d.planned_budget_micros >= s.max_daily_budget * 1000000
    union all
    -- Leads that cost more than they earn over the week to the day.
    select 'unprofitable', u.code,
           format('%s: ad spend %s euro exceeds lead revenue %s euro over the 7 days to %s',
                  u.code, u.spend, u.revenue, p_day)
    from (select s.code, sum(st.ad_spend) as spend, sum(st.revenue) as revenue
          from public.lead_segments s
          join public.lead_generation_stats st
            on st.segment_id = s.id and st.day > p_day - 7 and st.day <= p_day
          where s.is_active
          group by s.code) u
    where u.spend > 0 and u.spend > u.revenue
    union all
    -- The kill switch changed since the last alert about it (or is on, never alerted).
    select 'kill_switch', k.state,
           case when k.state = 'on'
                then 'kill switch is ON: no budget change is sent'
                else 'kill switch is OFF: budget changes are sent again' end
    from (select case when o.changes_enabled then 'off' else 'on' end as state
          from public.orchestration_settings o) k
    where k.state is distinct from coalesce(
            (select a.subject from private.alerts_sent a where a.kind = 'kill_switch'
             order by a.sent_at desc limit 1),
            'off')
  )
  select c.kind, c.subject, c.message
  from candidates c
  cross join public.job_day_window() w
  where p_day between w.earliest and w.latest  -- nothing for a day no job may run for
    and not exists (
    select 1 from private.alerts_sent a
    where a.day = p_day and a.kind = c.kind and a.subject = c.subject
  )
  order by c.kind, c.subject
$$;
comment on function public.alert_candidates(date) is
  'What needs a human for the day and was not alerted yet: failed runs, capacity unreachable, '
  'unprofitable segments, kill-switch changes.';

create or replace function public.record_alerts_sent(p_day date, p_alerts jsonb, p_targets integer)
returns integer
language sql volatile
security definer
set search_path = ''
as $$
  with written as (
    insert into private.alerts_sent (day, kind, subject, message, targets)
    select p_day, x.kind, x.subject, x.message, p_targets
    from jsonb_to_recordset(coalesce(p_alerts, '[]'::jsonb)) as x (kind text, subject text, message text)
    cross join public.job_day_window() w
    where p_day between w.earliest and w.latest
    on conflict do nothing
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function public.record_alerts_sent(date, jsonb, integer) is
  'Records alerts sent for a day ([{kind, subject, message}]); an alert already recorded is kept.';

revoke execute on function public.record_budget_observations(jsonb) from public, anon, authenticated;
revoke execute on function public.last_seen_budgets(text[]) from public, anon, authenticated;
revoke execute on function public.alert_candidates(date) from public, anon, authenticated;
revoke execute on function public.record_alerts_sent(date, jsonb, integer) from public, anon, authenticated;
grant execute on function public.record_budget_observations(jsonb) to service_role;
grant execute on function public.last_seen_budgets(text[]) to service_role;
grant execute on function public.alert_candidates(date) to service_role;
grant execute on function public.record_alerts_sent(date, jsonb, integer) to service_role;
