-- =============================================================================
-- Jobs: their runs (leases), Dutch holidays, capacity, Google Ads metrics, the
-- aggregate and plan jobs, and the days a job may run for.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- -----------------------------------------------------------------------------
-- job_runs
-- -----------------------------------------------------------------------------
create table public.job_runs (
  id uuid primary key default gen_random_uuid(),
  job text not null check (job in ('aggregate', 'plan', 'orchestrate', 'rollback')),
  day date not null,
  status text not null default 'running' check (status in ('running', 'success', 'failed')),
  triggered_by text not null,
  counts jsonb not null default '{}'::jsonb,
  error text,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  finished_at timestamptz,
  taken_over_by uuid,
  check ((status = 'running') = (finished_at is null)),
  check (taken_over_by is null or status = 'failed'),
  check (status <> 'failed' or error is not null)
);
-- Two runs of the same job for the same day never run at once.
create unique index job_runs_one_running_idx on public.job_runs (job, day) where status = 'running';
create index job_runs_job_started_idx on public.job_runs (job, started_at desc);

comment on table public.job_runs is 'Every run of every Leadflow job: when, for which day, how it ended. Admin-only.';
comment on column public.job_runs.job is 'aggregate, plan, orchestrate or rollback.';
comment on column public.job_runs.day is 'The Dutch calendar day the run was for.';
comment on column public.job_runs.status is 'running, success or failed.';
comment on column public.job_runs.counts is 'What the run did, e.g. {"segments": 180, "changed": 12}.';
comment on column public.job_runs.error is 'Why the run failed.';
comment on column public.job_runs.heartbeat_at is
  'Last sign of life. A run holds a lease while it beats; one silent for 30 minutes may be taken over.';
comment on column public.job_runs.taken_over_by is
  'The run that took this one''s lease: from then on this run can claim, send and complete nothing.';

alter table public.job_runs enable row level security;
-- service_role too (see the log above): it starts, beats and finishes runs, never deletes them.
revoke all on table public.job_runs from anon, authenticated, service_role;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant select, insert, update on table public.job_runs to service_role;
create policy "Admins can read job runs"
  on public.job_runs for select to authenticated
  using ((select private.is_admin()));

-- =============================================================================
-- The daily jobs in SQL: holidays, capacity, aggregation, planning, job runs.
-- Formulas are documented in docs/FORMULAS.md.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- public_holidays: filled from the maintained `holidays` library by the plan job
-- -----------------------------------------------------------------------------
create table public.public_holidays (
  day date primary key,
  name text not null,
  synced_at timestamptz not null default now()
);
comment on table public.public_holidays is
  'Dutch public holidays (non-working days), synced from the Python holidays library by the plan job.';
comment on column public.public_holidays.name is 'Name of the holiday.';

alter table public.public_holidays enable row level security;
revoke all on table public.public_holidays from anon, authenticated;
grant select on table public.public_holidays to authenticated;
grant all on table public.public_holidays to service_role;
create policy "Partners and admins can read public holidays"
  on public.public_holidays for select to authenticated using ((select private.has_profile()));

create or replace function public.sync_public_holidays(p_year integer, p_holidays jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  if p_year is null or p_year < 2000 or p_year > 2100 then
    raise exception 'sync_public_holidays: year % is out of range', p_year using errcode = '22023';
  end if;
  if jsonb_typeof(p_holidays) is distinct from 'array' or jsonb_array_length(p_holidays) = 0 then
    raise exception 'sync_public_holidays: p_holidays must be a non-empty array of {day, name}'
      using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_holidays) as h (day date, name text)
    where h.day is null or extract(year from h.day) <> p_year or coalesce(btrim(h.name), '') = ''
  ) then
    raise exception 'sync_public_holidays: every holiday needs a day in % and a name', p_year
      using errcode = '22023';
  end if;
  delete from public.public_holidays
   where extract(year from day) = p_year
     and day not in (select h.day from jsonb_to_recordset(p_holidays) as h (day date, name text));
  insert into public.public_holidays (day, name)
  select h.day, h.name from jsonb_to_recordset(p_holidays) as h (day date, name text)
  on conflict (day) do update set name = excluded.name, synced_at = now()
    where public.public_holidays.name is distinct from excluded.name;
  select count(*) into written from public.public_holidays where extract(year from day) = p_year;
  return written;
end
$$;
comment on function public.sync_public_holidays(integer, jsonb) is
  'Replace the holidays of one year with [{day, name}, ...]; returns how many that year now has.';
revoke execute on function public.sync_public_holidays(integer, jsonb) from public, anon, authenticated;
grant execute on function public.sync_public_holidays(integer, jsonb) to service_role;

-- -----------------------------------------------------------------------------
-- Capacity: a partner's monthly quota over its provinces and the month's working days
-- -----------------------------------------------------------------------------
create or replace function public.segment_capacity(p_from date, p_to date)
returns table (
  segment_id uuid,
  day date,
  active_partners integer,
  monthly_capacity numeric,
  working_days integer,
  is_working_day boolean,
  capacity numeric
)
language sql stable
set search_path = ''
as $$
  with days as (
    select d::date as day, date_trunc('month', d)::date as month
    from generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') as d
  ),
  calendar as (
    select c::date as day, date_trunc('month', c)::date as month,
           extract(isodow from c) < 6 and h.day is null as working
    from (select distinct month from days) m
    cross join generate_series(m.month::timestamp, (m.month + interval '1 month' - interval '1 day'),
                               interval '1 day') as c
    left join public.public_holidays h on h.day = c::date
  ),
  month_working_days as (
    select month, count(*) filter (where working)::integer as working_days
    from calendar group by month
  ),
  shares as (
    select s.id as segment_id, sub.partner_id, sub.starts_on, sub.ends_on,
           sub.monthly_lead_quota::numeric / cardinality(sub.region_codes) as monthly_share
    from public.subscriptions sub
    join public.lead_segments s
      on s.industry_id = sub.industry_id and s.region_code = any (sub.region_codes)
    where sub.status = 'active'
  )
  select sh.segment_id, d.day,
         count(distinct sh.partner_id)::integer,
         round(sum(sh.monthly_share), 2),
         mw.working_days,
         c.working,
         case when c.working and mw.working_days > 0
              then round(sum(sh.monthly_share) / mw.working_days, 2) else 0 end
  from days d
  join calendar c on c.day = d.day
  join month_working_days mw on mw.month = d.month
  join shares sh on sh.starts_on <= d.day and (sh.ends_on is null or sh.ends_on >= d.day)
  group by sh.segment_id, d.day, mw.working_days, c.working
$$;
comment on function public.segment_capacity(date, date) is
  'Per segment and Dutch day: active partners, monthly capacity (sum of quota / provinces covered), '
  'working days in the month, and daily capacity = monthly / working days on a working day, else 0.';
revoke execute on function public.segment_capacity(date, date) from public, anon, authenticated;
grant execute on function public.segment_capacity(date, date) to service_role;

-- -----------------------------------------------------------------------------
-- Google Ads metrics per campaign per day
-- -----------------------------------------------------------------------------
create table public.ad_campaign_daily_metrics (
  customer_id text not null,
  campaign_id text not null,
  day date not null,
  budget_resource_name text,
  cost_micros bigint not null default 0 check (cost_micros >= 0),
  clicks bigint not null default 0 check (clicks >= 0),
  impressions bigint not null default 0 check (impressions >= 0),
  conversions numeric(12, 2) not null default 0 check (conversions >= 0),
  search_budget_lost_impression_share numeric(5, 4)
    check (search_budget_lost_impression_share is null
           or search_budget_lost_impression_share between 0 and 1),
  fetched_at timestamptz not null default now(),
  primary key (customer_id, campaign_id, day)
);
create index ad_campaign_daily_metrics_day_idx on public.ad_campaign_daily_metrics (day);

comment on table public.ad_campaign_daily_metrics is
  'Google Ads metrics per campaign per day, as fetched by the aggregate job. Admin-only.';
comment on column public.ad_campaign_daily_metrics.cost_micros is 'Cost in micros (1,000,000 = 1 euro).';
comment on column public.ad_campaign_daily_metrics.search_budget_lost_impression_share is
  'Share of impressions lost to a too small budget; near 0 means more budget buys little.';

alter table public.ad_campaign_daily_metrics enable row level security;
revoke all on table public.ad_campaign_daily_metrics from anon, authenticated;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant all on table public.ad_campaign_daily_metrics to service_role;
create policy "Admins can read campaign metrics"
  on public.ad_campaign_daily_metrics for select to authenticated
  using ((select private.is_admin()));

create or replace function public.record_campaign_metrics(p_day date, p_metrics jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  if p_day is null or jsonb_typeof(p_metrics) is distinct from 'array' then
    raise exception 'record_campaign_metrics needs a day and an array of metrics' using errcode = '22023';
  end if;
  insert into public.ad_campaign_daily_metrics as m (
    customer_id, campaign_id, day, budget_resource_name, cost_micros, clicks, impressions,
    conversions, search_budget_lost_impression_share)
  select r.customer_id, r.campaign_id, p_day, r.budget_resource_name, r.cost_micros, r.clicks,
         r.impressions, r.conversions, r.search_budget_lost_impression_share
  from jsonb_to_recordset(p_metrics) as r (
    customer_id text, campaign_id text, budget_resource_name text, cost_micros bigint,
    clicks bigint, impressions bigint, conversions numeric, search_budget_lost_impression_share numeric)
  on conflict (customer_id, campaign_id, day) do update set
    budget_resource_name = excluded.budget_resource_name,
    cost_micros = excluded.cost_micros,
    clicks = excluded.clicks,
    impressions = excluded.impressions,
    conversions = excluded.conversions,
    search_budget_lost_impression_share = excluded.search_budget_lost_impression_share,
    fetched_at = now();
  get diagnostics written = row_count;
  return written;
end
$$;
comment on function public.record_campaign_metrics(date, jsonb) is
  'Upsert one day of Google Ads campaign metrics [{customer_id, campaign_id, cost_micros, ...}].';
revoke execute on function public.record_campaign_metrics(date, jsonb) from public, anon, authenticated;
grant execute on function public.record_campaign_metrics(date, jsonb) to service_role;

-- -----------------------------------------------------------------------------
-- Aggregation: leads + ad metrics + capacity -> lead_generation_stats
-- -----------------------------------------------------------------------------
create or replace function public.aggregate_lead_stats(p_from date, p_to date)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  if p_from is null or p_to is null or p_from > p_to then
    raise exception 'aggregate_lead_stats needs from <= to, got % .. %', p_from, p_to
      using errcode = '22023';
  end if;

  with bounds as (
    select (p_from::timestamp at time zone 'Europe/Amsterdam') as lo,
           ((p_to + 1)::timestamp at time zone 'Europe/Amsterdam') as hi
  ),
  lead_counts as (
    select l.segment_id,
           (l.created_at at time zone 'Europe/Amsterdam')::date as day,
           count(*)::integer as generated,
           count(*) filter (where l.status = 'accepted')::integer as accepted,
           count(*) filter (where l.status = 'rejected')::integer as rejected,
           count(*) filter (where l.status = 'pending')::integer as pending,
           count(*) filter (where l.source_channel = 'google_ads')::integer as google_ads,
           count(*) filter (where l.source_channel = 'seo')::integer as seo,
           count(*) filter (where l.source_channel = 'microsite')::integer as microsite,
           count(*) filter (where l.source_channel is null or l.source_channel = 'other')::integer as other,
           coalesce(sum(l.price) filter (where l.status = 'accepted'), 0) as revenue
    from public.leads l, bounds b
    where l.segment_id is not null and l.created_at >= b.lo and l.created_at < b.hi
    group by 1, 2
  ),
  ads as (
    select cb.segment_id, m.day,
           round(sum(m.cost_micros) / 1000000.0, 2) as spend,
           sum(m.clicks) as clicks,
           sum(m.impressions) as impressions,
           sum(m.conversions) as conversions
    from public.ad_campaign_daily_metrics m
    join public.segment_campaign_budgets cb
      on cb.customer_id = m.customer_id and cb.campaign_id = m.campaign_id
    where m.day between p_from and p_to
    group by 1, 2
  ),
  capacity as (
    select c.segment_id, c.day, c.active_partners, c.capacity
    from public.segment_capacity(p_from, p_to) c
  ),
  grid as (
    -- Every active segment has a row for every day, also without leads or ads.
    select s.id as segment_id, d::date as day
    from public.lead_segments s
    cross join generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') as d
    where s.is_active
  ),
  keyed as (
    -- The rows to write: grid, lead counts and ads joined on (segment, day) at once
    -- (each is unique per key), instead of a union of their keys joined back to each.
    select coalesce(g.segment_id, lc.segment_id) as segment_id,
           coalesce(g.day, lc.day) as day,
           lc.generated, lc.accepted, lc.rejected, lc.pending, lc.google_ads, lc.seo,
           lc.microsite, lc.other, lc.revenue
    from grid g
    full join lead_counts lc on lc.segment_id = g.segment_id and lc.day = g.day
  ),
  keys as (
    select coalesce(k.segment_id, a.segment_id) as segment_id,
           coalesce(k.day, a.day) as day,
           k.generated, k.accepted, k.rejected, k.pending, k.google_ads, k.seo, k.microsite,
           k.other, k.revenue, a.spend, a.clicks, a.impressions, a.conversions
    from keyed k
    full join ads a on a.segment_id = k.segment_id and a.day = k.day
  )
  insert into public.lead_generation_stats as st (
    segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
    leads_google_ads, leads_seo, leads_microsite, leads_other, revenue, ad_spend, ad_clicks,
    ad_impressions, ad_conversions, cpl, active_partners, total_capacity, computed_at)
  select k.segment_id, k.day,
         coalesce(k.generated, 0), coalesce(k.accepted, 0), coalesce(k.rejected, 0),
         coalesce(k.pending, 0), coalesce(k.google_ads, 0), coalesce(k.seo, 0),
         coalesce(k.microsite, 0), coalesce(k.other, 0), coalesce(k.revenue, 0),
         coalesce(k.spend, 0), coalesce(k.clicks, 0), coalesce(k.impressions, 0),
         coalesce(k.conversions, 0),
         round(k.spend / nullif(k.google_ads, 0), 2),
         coalesce(c.active_partners, 0), coalesce(c.capacity, 0), now()
  from keys k
  left join capacity c on c.segment_id = k.segment_id and c.day = k.day
  on conflict (segment_id, day) do update set
    leads_generated = excluded.leads_generated,
    leads_accepted = excluded.leads_accepted,
    leads_rejected = excluded.leads_rejected,
    leads_pending = excluded.leads_pending,
    leads_google_ads = excluded.leads_google_ads,
    leads_seo = excluded.leads_seo,
    leads_microsite = excluded.leads_microsite,
    leads_other = excluded.leads_other,
    revenue = excluded.revenue,
    ad_spend = excluded.ad_spend,
    ad_clicks = excluded.ad_clicks,
    ad_impressions = excluded.ad_impressions,
    ad_conversions = excluded.ad_conversions,
    cpl = excluded.cpl,
    active_partners = excluded.active_partners,
    total_capacity = excluded.total_capacity,
    computed_at = excluded.computed_at
  -- A rerun over unchanged data leaves the rows exactly as they were.
  where (st.leads_generated, st.leads_accepted, st.leads_rejected, st.leads_pending,
         st.leads_google_ads, st.leads_seo, st.leads_microsite, st.leads_other, st.revenue,
         st.ad_spend, st.ad_clicks, st.ad_impressions, st.ad_conversions, st.cpl,
         st.active_partners, st.total_capacity)
        is distinct from
        (excluded.leads_generated, excluded.leads_accepted, excluded.leads_rejected,
         excluded.leads_pending, excluded.leads_google_ads, excluded.leads_seo,
         excluded.leads_microsite, excluded.leads_other, excluded.revenue, excluded.ad_spend,
         excluded.ad_clicks, excluded.ad_impressions, excluded.ad_conversions, excluded.cpl,
         excluded.active_partners, excluded.total_capacity);
  get diagnostics written = row_count;

  return written;
end
$$;
comment on function public.aggregate_lead_stats(date, date) is
  'Recompute lead_generation_stats for the Dutch days from..to (set-based upsert; a rerun changes nothing '
  'unless the data did). Returns the rows written. The plans of those days take the new actual from the '
  'next plan run (update_lead_gaps).';
revoke execute on function public.aggregate_lead_stats(date, date) from public, anon, authenticated;
grant execute on function public.aggregate_lead_stats(date, date) to service_role;

-- -----------------------------------------------------------------------------
-- Planning: target = paced capacity / acceptance rate
-- -----------------------------------------------------------------------------
create or replace function public.plan_lead_segments(p_day date)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
  missing_years integer[];
  v_month_start date := date_trunc('month', p_day::timestamp)::date;
  v_window_start date;
  -- The plan's parameters: their one home is public.orchestration_settings (its checks
  -- keep them in range).
  params record;
begin
  if p_day is null then
    raise exception 'plan_lead_segments needs a day' using errcode = '22023';
  end if;
  select o.acceptance_window_days, o.prior_acceptance, o.prior_acceptance_weight, o.max_pace
    into params
    from public.orchestration_settings o;
  if not found then
    raise exception 'plan_lead_segments: orchestration_settings has no row' using errcode = '22023';
  end if;
  v_window_start := p_day - params.acceptance_window_days;
  select array_agg(distinct y) into missing_years
  from (values (extract(year from p_day)::integer)) v (y)
  where not exists (select 1 from public.public_holidays h where extract(year from h.day) = v.y);
  if missing_years is not null then
    raise exception 'no public holidays loaded for %: sync them before planning', missing_years
      using errcode = '22023';
  end if;

  with segs as (
    select s.id from public.lead_segments s where s.is_active
  ),
  cap as (
    select c.* from public.segment_capacity(p_day, p_day) c
  ),
  month_working as (
    -- Working days of p_day's month before p_day (elapsed) and from p_day on (remaining).
    select count(*) filter (where d < p_day)::integer as elapsed,
           count(*) filter (where d >= p_day)::integer as remaining
    from generate_series(date_trunc('month', p_day),
                         date_trunc('month', p_day) + interval '1 month' - interval '1 day',
                         interval '1 day') as d
    left join public.public_holidays h on h.day = d::date
    where extract(isodow from d) < 6 and h.day is null
  ),
  month_days as (
    -- Working days of p_day's month before p_day: stats of these days count as measured.
    select d::date as day
    from generate_series(v_month_start::timestamp, (p_day - 1)::timestamp, interval '1 day') as d
    left join public.public_holidays h on h.day = d::date
    where extract(isodow from d) < 6 and h.day is null
  ),
  month_stats as (
    -- One pass over the stats for both the acceptance window and the month so far, with
    -- constant bounds (nothing computed per row but the comparisons).
    -- Expected accepted leads so far this month: accepted, plus pending at the acceptance
    -- rate, over the measured days; the working days not measured (e.g. before the first
    -- run) count as delivered on plan, so a mid-month start does not chase a whole month.
    select st.segment_id,
           sum(st.leads_accepted) filter (where st.day >= v_window_start) as window_accepted,
           sum(st.leads_rejected) filter (where st.day >= v_window_start) as window_rejected,
           sum(st.leads_accepted) filter (where st.day >= v_month_start) as month_accepted,
           sum(st.leads_pending) filter (where st.day >= v_month_start) as month_pending,
           count(md.day)::integer as measured_working
    from public.lead_generation_stats st
    left join month_days md on md.day = st.day
    where st.day >= least(v_window_start, v_month_start) and st.day < p_day
    group by st.segment_id
  ),
  rates as (
    select s.id as segment_id,
           least(1, greatest(0.05,
             (coalesce(ms.window_accepted, 0)
              + params.prior_acceptance * params.prior_acceptance_weight)
             / nullif(coalesce(ms.window_accepted, 0) + coalesce(ms.window_rejected, 0)
                      + params.prior_acceptance_weight, 0)
           )) as rate,
           ms.month_accepted, ms.month_pending, ms.measured_working
    from segs s left join month_stats ms on ms.segment_id = s.id
  ),
  targets as (
    select s.id as segment_id,
           coalesce(c.capacity, 0) as capacity,
           coalesce(r.rate, params.prior_acceptance) as rate,
           case
             when coalesce(c.is_working_day, false) and mw.remaining > 0 then
               least(
                 greatest(c.monthly_capacity
                          - coalesce(r.month_accepted, 0)
                          - coalesce(r.month_pending, 0) * coalesce(r.rate, params.prior_acceptance)
                          - greatest(mw.elapsed - coalesce(r.measured_working, 0), 0)
                            * c.monthly_capacity / nullif(c.working_days, 0), 0) / mw.remaining,
                 c.capacity * params.max_pace)
             else 0
           end as accepted_target
    from segs s
    cross join month_working mw
    left join cap c on c.segment_id = s.id
    join rates r on r.segment_id = s.id
  )
  insert into public.lead_segment_plans as p
    (segment_id, day, capacity, acceptance_rate, target_leads)
  select t.segment_id, p_day, round(t.capacity, 2), round(t.rate, 4),
         round(t.accepted_target / t.rate, 2)
  from targets t
  on conflict (segment_id, day) do update set
    capacity = excluded.capacity,
    acceptance_rate = excluded.acceptance_rate,
    target_leads = excluded.target_leads
  where (p.capacity, p.acceptance_rate, p.target_leads)
        is distinct from
        (excluded.capacity, excluded.acceptance_rate, excluded.target_leads);
  get diagnostics written = row_count;

  -- The gaps of the days whose stats this plan read (and of p_day itself): the plan job is
  -- the one writer of plans, so it brings their measured actuals in.
  perform public.update_lead_gaps(least(v_window_start, v_month_start), p_day);
  return written;
end
$$;
comment on function public.plan_lead_segments(date) is
  'Write lead_segment_plans for a Dutch day for every active segment: target = paced capacity / '
  'acceptance rate, with the parameters of orchestration_settings (see docs/FORMULAS.md). Returns '
  'the rows written or changed.';
revoke execute on function public.plan_lead_segments(date) from public, anon, authenticated;
grant execute on function public.plan_lead_segments(date) to service_role;

-- -----------------------------------------------------------------------------
-- Job runs: one running run per job and day; stale runs recognised
-- -----------------------------------------------------------------------------
create or replace function public.job_day_window()
returns table (earliest date, latest date, today date)
language sql stable
security definer
set search_path = ''
as $$
  -- From a year before the marketplace's first lead (or today, without leads) to tomorrow.
  select coalesce((select min(l.created_at at time zone 'Europe/Amsterdam')::date
                   from public.leads l),
                  private.today_nl()) - 366,
         private.today_nl() + 1,
         private.today_nl()
$$;
comment on function public.job_day_window() is
  'The days a job may run for: from a year (366 days) before the first lead to tomorrow (Amsterdam), and today.';

create or replace function private.check_job_days(p_first date, p_last date) returns void
language plpgsql stable
set search_path = ''
as $$
declare
  w record;
begin
  select * into w from public.job_day_window();
  if p_first is null or p_last is null or p_first > p_last then
    raise exception 'a job needs a day, or a range whose first day is not after its last'
      using errcode = '22023';
  end if;
  if p_first < w.earliest or p_last > w.latest then
    raise exception 'day % is outside the days a job may run for: % to %',
      case when p_first < w.earliest then p_first else p_last end, w.earliest, w.latest
      using errcode = '22023', hint = 'before the first lead there is nothing to compute; after tomorrow nothing has happened';
  end if;
end
$$;
comment on function private.check_job_days(date, date) is
  'Refuses (22023) a job day or range outside public.job_day_window().';

create or replace function public.start_job_run(
  p_job text,
  p_day date,
  p_triggered_by text,
  p_first date default null
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  run_id uuid;
  running_since timestamptz;
begin
  perform private.check_job_days(coalesce(p_first, p_day), p_day);
  run_id := gen_random_uuid();
  -- A run silent for 30 minutes has lost its lease: it is taken over, and fenced
  -- (claim, complete and finish refuse a run that is not running).
  update public.job_runs
     set status = 'failed',
         error = format('stale: no heartbeat since %s; taken over by run %s', heartbeat_at, run_id),
         finished_at = now(),
         taken_over_by = run_id
   where job = p_job and day = p_day and status = 'running'
     and heartbeat_at < now() - private.job_lease();
  begin
    insert into public.job_runs (id, job, day, triggered_by)
    values (run_id, p_job, p_day, p_triggered_by);
  exception when unique_violation then
    select started_at into running_since from public.job_runs
     where job = p_job and day = p_day and status = 'running';
    raise exception '% for % is already running (started %)', p_job, p_day, running_since
      using errcode = '23505';
  end;
  return run_id;
end
$$;
comment on function public.start_job_run(text, date, text, date) is
  'Record the start of a job run for a day (or the range p_first..p_day) inside job_day_window(); '
  'refused (23505) while a run of the same job and day holds its lease. A run without a heartbeat '
  'for private.job_lease() is taken over first.';

create or replace function private.job_lease() returns interval
language sql immutable
set search_path = ''
as $$ select interval '30 minutes' $$;
comment on function private.job_lease() is 'How long a run holds its lease without a heartbeat.';

create or replace function public.heartbeat_job_run(p_run_id uuid) returns boolean
language sql
set search_path = ''
as $$
  with beat as (
    update public.job_runs set heartbeat_at = now()
     where id = p_run_id and status = 'running'
    returning 1
  )
  select exists (select 1 from beat)
$$;
comment on function public.heartbeat_job_run(uuid) is
  'A running job''s sign of life; false when the run no longer holds its lease (taken over or ended).';

create or replace function public.finish_job_run(
  p_run_id uuid, p_status text, p_counts jsonb default '{}'::jsonb, p_error text default null
)
returns void
language plpgsql
set search_path = ''
as $$
begin
  if p_status not in ('success', 'failed') then
    raise exception 'finish_job_run: status must be success or failed' using errcode = '22023';
  end if;
  update public.job_runs
     set status = p_status, counts = coalesce(p_counts, '{}'::jsonb),
         error = case when p_status = 'failed' then coalesce(p_error, 'failed') end,
         finished_at = now(), heartbeat_at = now()
   where id = p_run_id and status = 'running';
  if not found then
    raise exception 'job run % is not running (taken over or already finished)', p_run_id
      using errcode = 'PT409';
  end if;
end
$$;
comment on function public.finish_job_run(uuid, text, jsonb, text) is
  'Record how a running job run ended, with its counts or error.';

revoke execute on function public.job_day_window() from public, anon, authenticated;
revoke execute on function private.check_job_days(date, date) from public, anon, authenticated;
revoke execute on function private.job_lease() from public, anon;
revoke execute on function public.start_job_run(text, date, text, date) from public, anon, authenticated;
revoke execute on function public.heartbeat_job_run(uuid) from public, anon, authenticated;
revoke execute on function public.finish_job_run(uuid, text, jsonb, text) from public, anon, authenticated;
grant execute on function public.job_day_window() to service_role;
grant execute on function private.check_job_days(date, date) to service_role;
grant execute on function private.job_lease() to authenticated, service_role;
grant execute on function public.start_job_run(text, date, text, date) to service_role;
grant execute on function public.heartbeat_job_run(uuid) to service_role;
grant execute on function public.finish_job_run(uuid, text, jsonb, text) to service_role;
