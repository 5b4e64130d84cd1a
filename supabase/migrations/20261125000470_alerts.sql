-- =============================================================================
-- Alerts: what needs a human after a job run, and what was already sent.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- -----------------------------------------------------------------------------
-- 2. Alerts
-- -----------------------------------------------------------------------------
create table private.alerts_sent (
  day date not null,
  kind text not null
    check (kind in ('job_failed', 'job_recovered', 'capacity_unreachable', 'unprofitable',
                    'kill_switch', 'external_change', 'rollback_skipped')),
  subject text not null,
  message text not null,
  targets integer not null check (targets >= 0),
  sent_at timestamptz not null default now(),
  primary key (day, kind, subject)
);
comment on table private.alerts_sent is
  'Alerts sent to the operators: one per kind and subject (segment code, job and day, switch state) '
  'per Amsterdam calendar day of sending (day), whichever job day they were found for.';
revoke all on table private.alerts_sent from public, anon, authenticated, service_role;

create or replace function public.alert_candidates(p_day date)
returns table (kind text, subject text, message text)
language sql stable
security definer
set search_path = ''
as $$
  with candidates as (
    -- A job for the day whose last finished run failed (a successful rerun makes it stale).
    select 'job_failed'::text as kind, r.job || ' ' || r.day as subject,
           format('%s for %s failed: %s', r.job, r.day, left(r.error, 300)) as message
    from (select distinct on (j.job) j.job, j.day, j.status, j.error
          from public.job_runs j
          where j.day = p_day and j.status in ('success', 'failed')
          order by j.job, j.started_at desc) r
    where r.status = 'failed'
    union all
    -- A job whose failure was alerted today and whose last run for the day succeeded.
    select 'job_recovered', r.job || ' ' || r.day,
           format('%s for %s recovered: the run of %s succeeded after the failure alerted earlier',
                  r.job, r.day, to_char(r.finished_at at time zone 'Europe/Amsterdam', 'HH24:MI'))
    from (select distinct on (j.job) j.job, j.day, j.status, j.finished_at
          from public.job_runs j
          where j.day = p_day and j.status in ('success', 'failed')
          order by j.job, j.started_at desc) r
    where r.status = 'success'
      and exists (select 1 from private.alerts_sent a
                  where a.day = private.today_nl() and a.kind = 'job_failed'
                    and a.subject = r.job || ' ' || r.day)
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
    -- Google Ads holds an amount the database's record does not explain (an edit in Google
    -- Ads, a late write of a taken-over run, or a false report): changes stay within the
    -- daily limit of both until an admin accepts one (public.accept_budget_amount).
    select 'external_change', e.budget_resource_name || '=' || e.observed_micros,
           format('%s: Google Ads was seen holding %s euro, the record says %s euro; accept the '
                  'amount with accept_budget_amount if it is right', e.budget_resource_name,
                  round(e.observed_micros / 1000000.0, 2), round(e.record_micros / 1000000.0, 2))
    from private.budget_external_changes e
    where e.accepted_at is null
    union all
    -- A live rollback of the day could not restore a budget (bounds changed, unmapped, ...).
    select 'rollback_skipped', l.budget_resource_name,
           format('rollback of %s was not sent: %s', l.budget_resource_name, l.error)
    from public.channel_orchestration_log l
    where l.day = p_day and l.kind = 'rollback' and l.mode = 'live' and l.status = 'skipped'
      and l.action <> 'hold'
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
    -- Once per calendar day of sending, whichever job day found it (aggregate runs for
    -- yesterday, plan and orchestrate for today: one alert, not three).
    select 1 from private.alerts_sent a
    where a.day = private.today_nl() and a.kind = c.kind and a.subject = c.subject
  )
  order by c.kind, c.subject
$$;
comment on function public.alert_candidates(date) is
  'What needs a human for the day and was not alerted yet today (Amsterdam calendar day): failed '
  'runs (not when a rerun succeeded), recoveries of alerted failures, capacity unreachable, '
  'unprofitable segments, external changes, skipped rollbacks, kill-switch changes.';

create or replace function public.record_alerts_sent(p_day date, p_alerts jsonb, p_targets integer)
returns integer
language sql volatile
security definer
set search_path = ''
as $$
  with written as (
    insert into private.alerts_sent (day, kind, subject, message, targets)
    select private.today_nl(), x.kind, x.subject, x.message, p_targets
    from jsonb_to_recordset(coalesce(p_alerts, '[]'::jsonb)) as x (kind text, subject text, message text)
    cross join public.job_day_window() w
    where p_day between w.earliest and w.latest
    on conflict do nothing
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function public.record_alerts_sent(date, jsonb, integer) is
  'Records alerts sent for a job day ([{kind, subject, message}]) under today''s Amsterdam date, the '
  'day of sending; an alert already recorded today is kept.';

revoke execute on function public.alert_candidates(date) from public, anon, authenticated;
revoke execute on function public.record_alerts_sent(date, jsonb, integer) from public, anon, authenticated;
grant execute on function public.alert_candidates(date) to service_role;
grant execute on function public.record_alerts_sent(date, jsonb, integer) to service_role;
