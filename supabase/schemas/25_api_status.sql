-- =============================================================================
-- API route: the orchestration status (how the daily loop is doing, per paid
-- channel too); the other routes are in 24_api_routes.sql.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- GET /api/orchestration/status
-- -----------------------------------------------------------------------------
-- Security definer in `private` (job_runs and the log are not granted to
-- authenticated, so that pg_graphql does not list them); the exposed function
-- below only calls it. Checks the caller is an admin first.
create or replace function private.orchestration_status_for_admin(p_day date)
returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_day date := coalesce(p_day, private.today_nl());
  jobs jsonb;
  decisions jsonb;
  unreachable jsonb;
  failing jsonb;
  per_channel jsonb;
  alerts jsonb;
begin
  if not (select private.is_admin()) then
    raise exception 'only admins can read the orchestration status' using errcode = 'PT403';
  end if;

  select coalesce(jsonb_agg(jsonb_build_object(
           'job', r.job,
           'day', r.day,
           'status', r.status,
           'triggered_by', r.triggered_by,
           'started_at', r.started_at,
           'finished_at', r.finished_at,
           'heartbeat_at', r.heartbeat_at,
           'duration_seconds', round(extract(epoch from coalesce(r.finished_at, now()) - r.started_at), 3),
           'counts', r.counts,
           'error', r.error
         ) order by r.job), '[]'::jsonb)
    into jobs
  from (
    select distinct on (j.job) j.*
    from public.job_runs j
    order by j.job, j.started_at desc
  ) r;

  -- Each decision of the day in exactly one bucket.
  select jsonb_build_object(
           -- Exclusive buckets, matching how the orchestrate job writes rows: holds
           -- and dry-run changes are completed as skipped with their reason; other
           -- skipped rows are changes not sent (kill switch, already applied today).
           'applied', count(*) filter (where l.status = 'success' and l.mode = 'live' and l.action <> 'hold'),
           'validated', count(*) filter (where l.status = 'success' and l.mode = 'validate_only' and l.action <> 'hold'),
           'hold', count(*) filter (where l.action = 'hold' and l.status in ('success', 'skipped')),
           'dry_run', count(*) filter (where l.mode = 'dry_run' and l.action <> 'hold' and l.status in ('success', 'skipped')),
           'pending', count(*) filter (where l.status in ('pending', 'sent', 'unknown')),
           'failed', count(*) filter (where l.status = 'failed'),
           'skipped', count(*) filter (where l.status = 'skipped' and l.action <> 'hold' and l.mode <> 'dry_run'),
           'total', count(*)
         )
    into decisions
  from public.channel_orchestration_log l
  where l.day = v_day;

  select coalesce(jsonb_agg(to_jsonb(u) order by u.code), '[]'::jsonb)
    into unreachable
  from private.capacity_unreachable_segments(v_day) u;

  -- A budget whose last 3 or more attempts sent to Google Ads (live or
  -- validate-only, not holds) in the 7 days up to v_day all failed.
  with attempts as (
    select l.*,
           max(l.created_at) filter (where l.status = 'success')
             over (partition by l.budget_resource_name) as last_success_at
    from public.channel_orchestration_log l
    where l.budget_resource_name is not null
      and l.mode in ('live', 'validate_only')
      and l.action <> 'hold'
      and l.status in ('success', 'failed')
      and l.day between v_day - 6 and v_day
  ), streaks as (
    select a.budget_resource_name,
           (array_agg(a.segment_id order by a.created_at desc, a.id desc))[1] as segment_id,
           (array_agg(a.customer_id order by a.created_at desc, a.id desc))[1] as customer_id,
           (array_agg(a.campaign_id order by a.created_at desc, a.id desc))[1] as campaign_id,
           count(*) as consecutive_failures,
           (array_agg(a.error order by a.created_at desc, a.id desc))[1] as last_error,
           max(a.created_at) as last_failed_at
    from attempts a
    where a.status = 'failed' and (a.last_success_at is null or a.created_at > a.last_success_at)
    group by a.budget_resource_name
    having count(*) >= 3
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'segment_id', f.segment_id,
           'segment_code', s.code,
           'customer_id', f.customer_id,
           'campaign_id', f.campaign_id,
           'budget_resource_name', f.budget_resource_name,
           'consecutive_failures', f.consecutive_failures,
           'last_error', f.last_error,
           'last_failed_at', f.last_failed_at
         ) order by f.budget_resource_name), '[]'::jsonb)
    into failing
  from streaks f
  left join public.lead_segments s on s.id = f.segment_id;

  -- The alerts of the day: those sent on it (Amsterdam calendar day of sending), then
  -- those the next job run would send for it (found, not sent yet), worst first.
  -- Severity as leadflow.alerts.severity gives it (tests/core/test_api.py checks).
  with sent as (
    select a.kind, a.subject, a.message, a.sent_at, a.targets
    from private.alerts_sent a
    where a.day = v_day
  ), pending as (
    select c.kind, c.subject, c.message, null::timestamptz as sent_at, null::integer as targets
    from public.alert_candidates(v_day) c
    where not exists (select 1 from sent x where x.kind = c.kind and x.subject = c.subject)
  ), both_ as (
    select * from sent union all select * from pending
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'kind', b.kind,
           'severity', b.severity,
           'subject', b.subject,
           'message', b.message,
           'status', case when b.sent_at is null then 'pending' else 'sent' end,
           'sent_at', b.sent_at,
           'targets', b.targets
         ) order by b.rank, b.sent_at nulls last, b.kind, b.subject), '[]'::jsonb)
    into alerts
  from (
    select x.*, v.severity, array_position(array['error', 'warning', 'info'], v.severity) as rank
    from both_ x
    cross join lateral (
      select case
               when x.kind = 'job_failed' then 'error'
               when x.kind = 'job_recovered' then 'info'
               when x.kind = 'kill_switch' and x.subject = 'off' then 'info'
               else 'warning'
             end as severity
    ) v
  ) b;

  -- Per paid channel: its money rules, budgets and the day's decisions.
  select coalesce(jsonb_agg(to_jsonb(pc) - 'sort_order' order by pc.sort_order, pc.channel), '[]'::jsonb)
    into per_channel
  from (
    select c.key as channel, c.kill_switch, c.daily_cap,
           (select count(*) from public.segment_campaign_budgets b
             where b.channel = c.key and b.is_active)::integer as budgets,
           count(l.id) filter (where l.action = 'increase')::integer as increase,
           count(l.id) filter (where l.action = 'decrease')::integer as decrease,
           count(l.id) filter (where l.action = 'hold')::integer as hold,
           count(l.id) filter (where l.status = 'success' and l.mode = 'live'
                               and l.action <> 'hold')::integer as applied,
           round(sum(l.new_amount_micros) / 1000000.0, 2) as planned_budget,
           c.sort_order
    from public.ad_channels c
    left join lateral (
      select distinct on (x.budget_resource_name) x.*
      from public.channel_orchestration_log x
      where x.day = v_day and x.kind = 'adjust' and x.channel = c.key
      order by x.budget_resource_name, x.id desc
    ) l on true
    where c.is_paid
    group by c.key, c.kill_switch, c.daily_cap, c.sort_order
  ) pc;

  return jsonb_build_object(
    'day', v_day,
    'generated_at', now(),
    'jobs', jobs,
    'decisions', decisions,
    'capacity_unreachable', unreachable,
    'failing_campaigns', failing,
    'alerts', alerts,
    'channels', per_channel
  );
end
$$;
comment on function private.orchestration_status_for_admin(date) is
  'Admin-only body of public.api_orchestration_status.';
revoke execute on function private.orchestration_status_for_admin(date) from public, anon;
grant execute on function private.orchestration_status_for_admin(date) to authenticated, service_role;

create or replace function public.api_orchestration_status(p_day date default null)
returns jsonb
language sql stable
set search_path = ''
as $$
  select private.orchestration_status_for_admin(p_day)
$$;
comment on function public.api_orchestration_status(date) is
  'Admin: last run of each job, the day''s budget decisions by outcome, segments that cannot reach target '
  'at max budget, campaign budgets whose changes keep failing, and the day''s alerts (sent, and pending '
  'for the next run). p_day defaults to today (Amsterdam).';
revoke execute on function public.api_orchestration_status(date) from public, anon;
grant execute on function public.api_orchestration_status(date) to authenticated, service_role;
