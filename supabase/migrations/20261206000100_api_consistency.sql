-- =============================================================================
-- API consistency (issue 23): one rule of what a partner may see (the segment,
-- its stats and its plans answer alike: PT404 unless subscribed), segments
-- addressed by id or code, money in euros with cents, and the day's alerts in
-- the orchestration status. The schema files 23_api_helpers.sql and
-- 24_api_routes.sql hold the same functions.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- The routes now take the segment as text (an id or a code): the uuid versions go.
-- Only the API functions call them, and they are deployed with this migration
-- (docs/DEPLOY.md: until `sam deploy` finishes, old API functions answer 500 on
-- the segment routes that changed), hence the ignores.
-- squawk-ignore ban-drop-function
drop function public.api_get_segment(uuid);
-- squawk-ignore ban-drop-function
drop function public.api_segment_stats(uuid, date, date);
-- squawk-ignore ban-drop-function
drop function public.api_segment_plans(uuid, date, date);
-- squawk-ignore ban-drop-function
drop function public.api_update_segment(uuid, jsonb);
-- squawk-ignore ban-drop-function
drop function private.check_readable_segment(uuid);
-- -----------------------------------------------------------------------------
-- Helpers
-- -----------------------------------------------------------------------------
-- The one rule of what a caller may see of a segment, for every route: an admin
-- every segment; a partner an active segment (RLS on lead_segments) that it is
-- subscribed to (private.readable_segment_ids). Anything else is PT404, the same
-- answer as for a segment that does not exist, on the segment, its stats and plans.
create or replace function private.readable_segment_id(p_segment text)
returns uuid
language plpgsql stable
set search_path = ''
as $$
declare
  found_id uuid;
begin
  if p_segment ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select s.id into found_id from public.lead_segments s where s.id = p_segment::uuid;
  else
    select s.id into found_id from public.lead_segments s where s.code = p_segment;
  end if;
  if found_id is null
     or not exists (select 1 from private.readable_segment_ids() r (id) where r.id = found_id) then
    raise exception 'lead segment not found' using errcode = 'PT404';
  end if;
  return found_id;
end
$$;
comment on function private.readable_segment_id(text) is
  'The id of the segment given by id or code if the caller may read it (admin: any; partner: an active '
  'segment it is subscribed to); PT404 otherwise: a foreign segment looks unknown.';
revoke execute on function private.readable_segment_id(text) from public, anon;
grant execute on function private.readable_segment_id(text) to authenticated, service_role;

create or replace function private.segment_plans_for_admin(p_segment_id uuid, p_from date, p_to date)
returns json
language plpgsql stable security definer
set search_path = ''
as $$
declare
  items json;
begin
  if not (select private.is_admin()) then
    raise exception 'only admins can read planned budgets' using errcode = 'PT403';
  end if;
  if not exists (select 1 from public.lead_segments s where s.id = p_segment_id) then
    raise exception 'lead segment not found' using errcode = 'PT404';
  end if;
  select coalesce(json_agg(json_build_object(
           'day', p.day,
           'capacity', p.capacity,
           'acceptance_rate', p.acceptance_rate,
           'target_leads', p.target_leads,
           'actual_leads', p.actual_leads,
           'lead_gap', p.lead_gap,
           'updated_at', p.updated_at,
           -- Euros with cents, as every money value of the API (not 68.6500000000000000).
           'planned_budget_google_ads', round(d.planned_budget_micros / 1000000.0, 2),
           'budget_action', d.budget_action,
           'budget_status', d.budget_status
         ) order by p.day), '[]'::json)
    into items
  from public.lead_segment_plans p
  join public.lead_segment_days d on d.segment_id = p.segment_id and d.day = p.day
  where p.segment_id = p_segment_id and p.day between p_from and p_to;
  return items;
end
$$;
comment on function private.segment_plans_for_admin(uuid, date, date) is
  'Admin-only: daily plans of a segment from..to with the budget decided and its action and status, '
  'as a JSON array; PT404 for an unknown segment.';
revoke execute on function private.segment_plans_for_admin(uuid, date, date) from public, anon;
grant execute on function private.segment_plans_for_admin(uuid, date, date) to authenticated, service_role;

-- -----------------------------------------------------------------------------
-- Routes
-- -----------------------------------------------------------------------------
create or replace function public.api_list_segments(p_limit integer default 100, p_offset integer default 0)
returns json
language plpgsql stable
set search_path = ''
as $$
begin
  if p_limit is null or p_limit not between 1 and 1000 or p_offset is null or p_offset < 0 then
    raise exception 'limit must be 1..1000 and offset at least 0' using errcode = '22023';
  end if;
  return json_build_object(
    'items', coalesce((
      select json_agg(j.segment order by j.code)
      from private.segments_json(array(
             select s.id from public.lead_segments s
             where s.id in (select r.id from private.readable_segment_ids() r (id))
             order by s.code limit p_limit offset p_offset
           ), false) j
    ), '[]'::json),
    'total', (select count(*) from public.lead_segments s
              where s.id in (select r.id from private.readable_segment_ids() r (id))),
    'limit', p_limit,
    'offset', p_offset
  );
end
$$;
comment on function public.api_list_segments(integer, integer) is
  'The segments the caller may see (partners: the active ones they are subscribed to, exactly those whose '
  'stats and plans they may read; admins: all, with budget bounds), by code, paged.';
revoke execute on function public.api_list_segments(integer, integer) from public, anon;
grant execute on function public.api_list_segments(integer, integer) to authenticated, service_role;

create or replace function public.api_get_segment(p_segment text)
returns json
language plpgsql stable
set search_path = ''
as $$
begin
  return (select j.segment
          from private.segments_json(array[private.readable_segment_id(p_segment)], true) j);
end
$$;
comment on function public.api_get_segment(text) is
  'One segment (by id or code) as the caller may see it; PT404 when it does not exist or is hidden '
  'from the caller.';
revoke execute on function public.api_get_segment(text) from public, anon;
grant execute on function public.api_get_segment(text) to authenticated, service_role;

create or replace function public.api_segment_stats(p_segment text, p_from date, p_to date)
returns json
language plpgsql stable
set search_path = ''
as $$
declare
  items json;
  v_segment_id uuid;
begin
  perform private.check_day_range(p_from, p_to);
  v_segment_id := private.readable_segment_id(p_segment);
  if (select private.is_admin()) then
    items := private.segment_stats_for_admin(v_segment_id, p_from, p_to);
  else
    -- RLS limits the rows to subscribed segments; the column grant leaves out money.
    select coalesce(json_agg(json_build_object(
             'day', st.day,
             'leads_generated', st.leads_generated,
             'leads_accepted', st.leads_accepted,
             'leads_rejected', st.leads_rejected,
             'leads_pending', st.leads_pending,
             'leads_google_ads', st.leads_google_ads,
             'leads_seo', st.leads_seo,
             'leads_microsite', st.leads_microsite,
             'leads_other', st.leads_other,
             'active_partners', st.active_partners,
             'total_capacity', st.total_capacity,
             'computed_at', st.computed_at
           ) order by st.day), '[]'::json)
      into items
    from public.lead_generation_stats st
    where st.segment_id = v_segment_id and st.day between p_from and p_to;
  end if;
  return json_build_object('segment_id', v_segment_id, 'from', p_from, 'to', p_to, 'items', items);
end
$$;
comment on function public.api_segment_stats(text, date, date) is
  'Daily stats of a segment (by id or code) from..to (at most 366 days): lead counts and capacity; money for admins only. '
  'PT404 for a segment the caller may not read.';
revoke execute on function public.api_segment_stats(text, date, date) from public, anon;
grant execute on function public.api_segment_stats(text, date, date) to authenticated, service_role;

create or replace function public.api_segment_plans(p_segment text, p_from date, p_to date)
returns json
language plpgsql stable
set search_path = ''
as $$
declare
  items json;
  v_segment_id uuid;
begin
  perform private.check_day_range(p_from, p_to);
  v_segment_id := private.readable_segment_id(p_segment);
  if (select private.is_admin()) then
    items := private.segment_plans_for_admin(v_segment_id, p_from, p_to);
  else
    -- RLS limits the rows to subscribed segments; the column grant leaves out budgets.
    select coalesce(json_agg(json_build_object(
             'day', p.day,
             'capacity', p.capacity,
             'acceptance_rate', p.acceptance_rate,
             'target_leads', p.target_leads,
             'actual_leads', p.actual_leads,
             'lead_gap', p.lead_gap,
             'updated_at', p.updated_at
           ) order by p.day), '[]'::json)
      into items
    from public.lead_segment_plans p
    where p.segment_id = v_segment_id and p.day between p_from and p_to;
  end if;
  return json_build_object('segment_id', v_segment_id, 'from', p_from, 'to', p_to, 'items', items);
end
$$;
comment on function public.api_segment_plans(text, date, date) is
  'Daily plans of a segment (by id or code) from..to (at most 366 days): capacity, target, actual, gap; planned budget '
  'and the day''s budget decision for admins only. PT404 for a segment the caller may not read.';
revoke execute on function public.api_segment_plans(text, date, date) from public, anon;
grant execute on function public.api_segment_plans(text, date, date) to authenticated, service_role;

create or replace function public.api_update_segment(p_segment text, p_changes jsonb)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  changeable constant text[] := array['name', 'is_active', 'min_daily_budget', 'max_daily_budget', 'target_cpl'];
  unknown text[];
  columns text[];
  v_segment_id uuid;
begin
  if not (select private.is_admin()) then
    raise exception 'only admins can change segments' using errcode = 'PT403';
  end if;
  if jsonb_typeof(p_changes) is distinct from 'object' then
    raise exception 'changes must be a JSON object' using errcode = 'PT422';
  end if;
  select array_agg(k order by k) filter (where k <> all (changeable || 'campaigns'::text)),
         array_agg(k order by k) filter (where k = any (changeable))
    into unknown, columns
  from jsonb_object_keys(p_changes) as k;
  if unknown is not null then
    raise exception 'unknown fields: %', array_to_string(unknown, ', ') using errcode = 'PT422';
  end if;
  v_segment_id := private.readable_segment_id(p_segment);

  if columns is not null then
    -- Only the given columns are assigned, so the update needs no read of the
    -- money columns (which the authenticated role cannot select).
    begin
      execute format(
        'update public.lead_segments set (%1$s) = (select %1$s from jsonb_populate_record(null::public.lead_segments, $2)) where id = $1',
        (select string_agg(format('%I', c), ', ') from unnest(columns) as c)
      ) using v_segment_id, p_changes;
    exception
      when check_violation or not_null_violation or numeric_value_out_of_range
           or invalid_text_representation or datatype_mismatch then
        raise exception 'the changes are invalid: name must not be empty, budgets need '
          '0 <= min_daily_budget <= max_daily_budget and max_daily_budget > 0, target_cpl > 0 or null'
          using errcode = 'PT422';
    end;
  end if;
  if p_changes ? 'campaigns' then
    perform private.set_segment_campaigns(v_segment_id, p_changes -> 'campaigns');
  end if;
  return private.segment_json(v_segment_id, true);
end
$$;
comment on function public.api_update_segment(text, jsonb) is
  'Admin: change a segment''s (by id or code) name, active flag, budget bounds or target CPL (only the keys given; '
  'target_cpl null clears it) and, with "campaigns", replace its campaign mappings.';
revoke execute on function public.api_update_segment(text, jsonb) from public, anon;
grant execute on function public.api_update_segment(text, jsonb) to authenticated, service_role;

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

  return jsonb_build_object(
    'day', v_day,
    'generated_at', now(),
    'jobs', jobs,
    'decisions', decisions,
    'capacity_unreachable', unreachable,
    'failing_campaigns', failing,
    'alerts', alerts
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
