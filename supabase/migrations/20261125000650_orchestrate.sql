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
  max_daily_change numeric(4, 3) not null default 0.200
    check (max_daily_change > 0 and max_daily_change <= 0.200),
  updated_at timestamptz not null default now(),
  updated_by uuid
);
insert into public.orchestration_settings (id) values (true) on conflict do nothing;

comment on table public.orchestration_settings is
  'One row of orchestrator settings. changes_enabled = false is the kill switch: no budget change is sent.';
comment on column public.orchestration_settings.changes_enabled is
  'Kill switch: false stops every budget change (live and validate-only); decisions are still logged.';
comment on column public.orchestration_settings.max_daily_change is
  'Largest change of a budget in one day, as a fraction (at most 0.20).';

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
create or replace function private.check_budget_decision() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  seg record;
  settings record;
  reference bigint;
begin
  if new.action = 'hold' then
    if new.new_amount_micros is distinct from new.old_amount_micros then
      raise exception 'a hold keeps the budget: new must equal old' using errcode = '23514';
    end if;
    return new;
  end if;
  if new.budget_resource_name is null or new.old_amount_micros is null or new.new_amount_micros is null then
    raise exception 'a budget change needs the budget, its old and its new amount' using errcode = '23514';
  end if;
  select s.min_daily_budget, s.max_daily_budget into seg
    from public.lead_segments s where s.id = new.segment_id;
  select o.changes_enabled, o.max_daily_change into settings
    from public.orchestration_settings o;
  if new.new_amount_micros < round(seg.min_daily_budget * 1000000)
     or new.new_amount_micros > round(seg.max_daily_budget * 1000000) then
    raise exception 'budget % micros is outside the segment bounds % .. % euro',
      new.new_amount_micros, seg.min_daily_budget, seg.max_daily_budget using errcode = '23514';
  end if;
  -- The daily limit is measured from the budget at the start of the day: the old
  -- amount of an adjustment, or for a rollback the amount before that day's change.
  if new.kind = 'rollback' then
    select l.old_amount_micros into reference
      from public.channel_orchestration_log l
     where l.day = new.day and l.budget_resource_name = new.budget_resource_name
       and l.kind = 'adjust' and l.mode = 'live' and l.status = 'success' and l.action <> 'hold'
     order by l.id
     limit 1;
    if reference is null then
      raise exception 'nothing to roll back for % on %', new.budget_resource_name, new.day
        using errcode = '23514';
    end if;
  else
    reference := new.old_amount_micros;
  end if;
  if abs(new.new_amount_micros - reference)
     > floor(reference * coalesce(settings.max_daily_change, 0.2)) then
    raise exception 'a change to % micros is more than % %% from the day''s starting budget of % micros',
      new.new_amount_micros, coalesce(settings.max_daily_change, 0.2) * 100, reference
      using errcode = '23514';
  end if;
  if new.mode <> 'dry_run' and new.status = 'pending' and not coalesce(settings.changes_enabled, false) then
    raise exception 'the kill switch is on: no budget changes may be sent' using errcode = '23514';
  end if;
  return new;
end
$$;
comment on function private.check_budget_decision() is
  'Trigger: refuses a logged budget change outside the segment bounds, more than the daily limit from '
  'the day''s starting budget, '
  'or sent while the kill switch is on. A change must be logged before it is applied, so none escapes this.';

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

create or replace function public.orchestration_inputs(p_day date, p_window_days integer default 7)
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
  lost_impression_share_budget numeric
)
language sql stable
set search_path = ''
as $$
  with budgets as (
    select s.id as segment_id, s.code, s.min_daily_budget, s.max_daily_budget, s.target_cpl,
           cb.customer_id, cb.campaign_id, cb.budget_resource_name,
           count(*) over (partition by s.id) as n
    from public.lead_segments s
    join public.segment_campaign_budgets cb on cb.segment_id = s.id and cb.is_active
    where s.is_active
  ),
  targets as (
    -- Trailing week of targets ending today: each weekday once.
    select p.segment_id, avg(p.target_leads) as target,
           bool_or(p.day = p_day) as has_today
    from public.lead_segment_plans p
    where p.day > p_day - p_window_days and p.day <= p_day
    group by p.segment_id
  ),
  actuals as (
    -- Trailing week of measured days before today.
    select st.segment_id,
           avg(st.leads_generated) as expected,
           avg(st.leads_google_ads) as paid,
           avg(st.ad_spend) as spend
    from public.lead_generation_stats st
    where st.day >= p_day - p_window_days and st.day < p_day
    group by st.segment_id
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
         round(a.expected / b.n, 4),
         round(a.paid / b.n, 4),
         round(a.spend * 1000000 / b.n)::bigint,
         (p_day - nw.day)::integer,
         m.search_budget_lost_impression_share
  from budgets b
  left join targets t on t.segment_id = b.segment_id
  left join actuals a on a.segment_id = b.segment_id
  left join newest nw on nw.segment_id = b.segment_id
  left join public.ad_campaign_daily_metrics m
    on m.customer_id = b.customer_id and m.campaign_id = b.campaign_id and m.day = p_day - 1
  order by b.code, b.budget_resource_name
$$;
comment on function public.orchestration_inputs(date, integer) is
  'Per active mapped budget: bounds, trailing-week average target and actual leads, paid leads and '
  'spend (split evenly over a segment''s budgets), data age and lost impression share. See docs/FORMULAS.md.';

-- -----------------------------------------------------------------------------
-- The audit log's write path
-- -----------------------------------------------------------------------------
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
begin
  if jsonb_typeof(p_decisions) is distinct from 'array' then
    raise exception 'log_budget_decisions: p_decisions must be an array' using errcode = '22023';
  end if;
  return query
  with d as (
    select r.*
    from jsonb_to_recordset(p_decisions) as r (
      segment_id uuid, customer_id text, campaign_id text, budget_resource_name text,
      action text, old_amount_micros bigint, new_amount_micros bigint, lead_gap numeric,
      reason text, skip_reason text)
  ),
  prior as (
    select distinct on (l.budget_resource_name) l.budget_resource_name, l.id
    from public.channel_orchestration_log l
    where l.day = p_day and l.kind = p_kind and l.mode = 'live'
      and l.status in ('pending', 'success') and l.action <> 'hold'
    order by l.budget_resource_name, l.id
  ),
  settings as (select o.changes_enabled from public.orchestration_settings o)
  insert into public.channel_orchestration_log as l (
    run_id, day, segment_id, kind, customer_id, campaign_id, budget_resource_name, action,
    old_amount_micros, new_amount_micros, change_pct, lead_gap, reason, mode, status, error,
    triggered_by, completed_at)
  select p_run_id, p_day, d.segment_id, p_kind, d.customer_id, d.campaign_id, d.budget_resource_name,
         d.action, d.old_amount_micros, d.new_amount_micros,
         round((d.new_amount_micros - d.old_amount_micros) * 100.0 / nullif(d.old_amount_micros, 0), 2),
         d.lead_gap, d.reason, p_mode,
         x.status, x.error, p_triggered_by,
         case when x.status = 'pending' then null else now() end
  from d
  left join prior on prior.budget_resource_name = d.budget_resource_name
  cross join settings
  cross join lateral (
    select case
             when d.action = 'hold' then 'skipped'
             when d.skip_reason is not null then 'skipped'
             when p_mode = 'live' and prior.id is not null then 'skipped'
             when p_mode <> 'dry_run' and not settings.changes_enabled then 'skipped'
             when p_mode = 'dry_run' then 'skipped'
             else 'pending'
           end as status,
           case
             when d.action = 'hold' then 'hold: ' || d.reason
             when d.skip_reason is not null then d.skip_reason
             when p_mode = 'live' and prior.id is not null
               then format('already changed today (log #%s); not applied twice', prior.id)
             when p_mode <> 'dry_run' and not settings.changes_enabled then 'kill switch is on: not sent'
             when p_mode = 'dry_run' then 'dry run: not sent to Google Ads'
           end as error
  ) x
  returning l.id, l.budget_resource_name, l.status, l.error;
end
$$;
comment on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) is
  'Write the decisions of a run to the audit log before anything is sent. Changes to send come back '
  'pending; holds, dry runs, kill-switch and already-applied changes come back skipped with why.';

create or replace function public.complete_budget_decisions(p_results jsonb) returns integer
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
    where r.status not in ('success', 'failed', 'skipped') or (r.status = 'failed' and r.error is null)
  ) then
    raise exception 'complete_budget_decisions: status must be success, failed (with error) or skipped'
      using errcode = '22023';
  end if;
  update public.channel_orchestration_log l
     set status = r.status, error = r.error, completed_at = now()
    from jsonb_to_recordset(p_results) as r (id bigint, status text, error text)
   where l.id = r.id and l.status = 'pending';
  get diagnostics completed = row_count;
  return completed;
end
$$;
comment on function public.complete_budget_decisions(jsonb) is
  'Complete pending audit rows [{id, status, error}] once; returns how many were completed.';

create or replace function public.pending_budget_decisions(p_day date)
returns table (id bigint, budget_resource_name text, kind text, mode text, new_amount_micros bigint,
               created_at timestamptz)
language sql stable
set search_path = ''
as $$
  select l.id, l.budget_resource_name, l.kind, l.mode, l.new_amount_micros, l.created_at
  from public.channel_orchestration_log l
  where l.day = p_day and l.status = 'pending'
  order by l.id
$$;
comment on function public.pending_budget_decisions(date) is
  'Audit rows of a day still pending: left by a run that died between logging and completing.';

create or replace function public.record_plan_orchestration(p_day date, p_outcomes jsonb) returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  update public.lead_segment_plans p
     set planned_budget_google_ads = r.planned_budget_micros / 1000000.0,
         orchestration_status = r.status
    from jsonb_to_recordset(p_outcomes) as r (segment_id uuid, planned_budget_micros bigint, status text)
   where p.segment_id = r.segment_id and p.day = p_day;
  get diagnostics written = row_count;
  return written;
end
$$;
comment on function public.record_plan_orchestration(date, jsonb) is
  'Store on each plan of a day the budget decided and how orchestration went.';

create or replace function public.rollback_candidates(p_day date)
returns table (segment_id uuid, customer_id text, campaign_id text, budget_resource_name text,
               restore_amount_micros bigint, changed_amount_micros bigint, log_id bigint)
language sql stable
set search_path = ''
as $$
  select distinct on (l.budget_resource_name)
         l.segment_id, l.customer_id, l.campaign_id, l.budget_resource_name,
         l.old_amount_micros, l.new_amount_micros, l.id
  from public.channel_orchestration_log l
  where l.day = p_day and l.kind = 'adjust' and l.mode = 'live' and l.status = 'success'
    and l.action <> 'hold'
    and not exists (
      select 1 from public.channel_orchestration_log r
      where r.day = p_day and r.kind = 'rollback' and r.mode = 'live' and r.status = 'success'
        and r.budget_resource_name = l.budget_resource_name
    )
  order by l.budget_resource_name, l.id
$$;
comment on function public.rollback_candidates(date) is
  'Budgets changed live on a day and not yet rolled back, with the amount the log says they had before.';

create or replace function public.orchestration_settings_get()
returns table (changes_enabled boolean, max_daily_change numeric)
language sql stable
set search_path = ''
as $$
  select o.changes_enabled, o.max_daily_change from public.orchestration_settings o
$$;
comment on function public.orchestration_settings_get() is 'The kill switch and daily change limit.';

revoke execute on function public.campaign_customer_ids() from public, anon, authenticated;
revoke execute on function public.orchestration_inputs(date, integer) from public, anon, authenticated;
revoke execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) from public, anon, authenticated;
revoke execute on function public.complete_budget_decisions(jsonb) from public, anon, authenticated;
revoke execute on function public.pending_budget_decisions(date) from public, anon, authenticated;
revoke execute on function public.record_plan_orchestration(date, jsonb) from public, anon, authenticated;
revoke execute on function public.rollback_candidates(date) from public, anon, authenticated;
revoke execute on function public.orchestration_settings_get() from public, anon;
grant execute on function public.campaign_customer_ids() to service_role;
grant execute on function public.orchestration_inputs(date, integer) to service_role;
grant execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) to service_role;
grant execute on function public.complete_budget_decisions(jsonb) to service_role;
grant execute on function public.pending_budget_decisions(date) to service_role;
grant execute on function public.record_plan_orchestration(date, jsonb) to service_role;
grant execute on function public.rollback_candidates(date) to service_role;
grant execute on function public.orchestration_settings_get() to authenticated, service_role;
