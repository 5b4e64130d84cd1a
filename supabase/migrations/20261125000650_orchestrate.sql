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
  if new.kind = 'adjust' and not coalesce(sign(new.lead_gap) = case new.action when 'increase' then 1 else -1 end, false) then
    raise exception 'an adjustment never goes against the lead gap: % with a gap of %',
      new.action, coalesce(new.lead_gap::text, 'unknown') using errcode = '23514';
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
        > floor(new.old_amount_micros * coalesce(settings.max_daily_change, 0.2)))
     or abs(new.new_amount_micros - reference) > floor(reference * coalesce(settings.max_daily_change, 0.2)) then
    raise exception 'a change to % micros is more than % %% from the day''s starting budget of % micros',
      new.new_amount_micros, coalesce(settings.max_daily_change, 0.2) * 100,
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
  'amounts or (adjustments) the sign of the lead gap, an amount outside the segment bounds or more '
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
    select r.*
    from jsonb_to_recordset(p_decisions) as r (
      segment_id uuid, customer_id text, campaign_id text, budget_resource_name text,
      action text, old_amount_micros bigint, new_amount_micros bigint, lead_gap numeric,
      reason text, skip_reason text)
  ),
  settings as (select o.changes_enabled, o.max_daily_change from public.orchestration_settings o)
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
  returning l.id, l.budget_resource_name, l.status, l.error;
end
$$;
comment on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) is
  'Write the decisions of a run to the audit log before anything is sent. Changes to send come back '
  'pending; holds, dry runs, kill-switch, in-doubt, beyond-limit and already-applied changes come back '
  'skipped with why. Live only for today; only by a run that holds its lease.';

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
begin
  perform private.check_run_holds_lease(p_run_id);
  select k.changes_enabled, k.max_daily_change into enabled, max_change
    from private.settings_for_sending() k;
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
  'daily limit of today''s starting budget and the budgets in doubt: claimed rows come back sent '
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
revoke execute on function public.claim_budget_decisions(uuid, bigint[]) from public, anon, authenticated;
revoke execute on function public.complete_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function public.open_budget_decisions() from public, anon, authenticated;
revoke execute on function public.reconcile_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function private.check_run_holds_lease(uuid) from public, anon, authenticated;
revoke execute on function private.budget_day_reference(text, date) from public, anon, authenticated;
revoke execute on function private.send_window() from public, anon;
revoke execute on function public.record_plan_orchestration(date, jsonb) from public, anon, authenticated;
revoke execute on function public.rollback_candidates(date) from public, anon, authenticated;
revoke execute on function public.orchestration_settings_get() from public, anon;
grant execute on function public.campaign_customer_ids() to service_role;
grant execute on function public.orchestration_inputs(date, integer) to service_role;
grant execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) to service_role;
grant execute on function public.claim_budget_decisions(uuid, bigint[]) to service_role;
grant execute on function public.complete_budget_decisions(uuid, jsonb) to service_role;
grant execute on function public.open_budget_decisions() to service_role;
grant execute on function public.reconcile_budget_decisions(uuid, jsonb) to service_role;
grant execute on function private.check_run_holds_lease(uuid) to service_role;
grant execute on function private.budget_day_reference(text, date) to service_role;
grant execute on function private.send_window() to authenticated, service_role;
grant execute on function public.record_plan_orchestration(date, jsonb) to service_role;
grant execute on function public.rollback_candidates(date) to service_role;
grant execute on function public.orchestration_settings_get() to authenticated, service_role;
