-- =============================================================================
-- The operator's day (issue #14), self-contained:
--   1. the budgets Google Ads last reported, kept by the jobs on every read, so
--      that a dry run or a rollback can be previewed without credentials;
--   2. alerts: what needs a human after a job run, and what was already sent
--      (one alert per kind and subject per day).
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

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
    select 'capacity_unreachable', d.code,
           format('%s is at its maximum budget (%s euro/day) and still %s leads/day under target',
                  d.code, d.max_daily_budget, round(d.gap, 1))
    from (select s.code, s.max_daily_budget, sum(l.new_amount_micros) as budget,
                 max(l.lead_gap) as gap
          from public.lead_segments s
          join lateral (
            select distinct on (x.budget_resource_name) x.new_amount_micros, x.lead_gap
            from public.channel_orchestration_log x
            where x.segment_id = s.id and x.day = p_day and x.kind = 'adjust'
            order by x.budget_resource_name, x.id desc
          ) l on true
          where s.is_active
          group by s.code, s.max_daily_budget) d
    where d.gap > 0 and d.budget >= d.max_daily_budget * 1000000
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
