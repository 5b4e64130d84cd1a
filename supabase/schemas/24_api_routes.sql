-- =============================================================================
-- API routes: one function per route of functions/api (security invoker
-- unless it checks the caller itself).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- GET /api/health
-- -----------------------------------------------------------------------------
create or replace function public.api_health()
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object('status', 'ok')
$$;
comment on function public.api_health() is 'Liveness of the database path: a trivial call that touches no table.';
revoke execute on function public.api_health() from public;
grant execute on function public.api_health() to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- GET /api/lead-segments
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

-- -----------------------------------------------------------------------------
-- GET /api/lead-segments/{id or code}
-- -----------------------------------------------------------------------------
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

-- -----------------------------------------------------------------------------
-- GET /api/lead-segments/{id}/stats and /plans
-- -----------------------------------------------------------------------------
create or replace function private.check_day_range(p_from date, p_to date)
returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  if p_from is null or p_to is null or p_from > p_to or p_to - p_from > 365 then
    raise exception 'from must not be after to, and the range may span at most 366 days'
      using errcode = '22023';
  end if;
end
$$;
comment on function private.check_day_range(date, date) is
  'Refuse (22023) a day range that is open, reversed, or longer than 366 days.';
revoke execute on function private.check_day_range(date, date) from public, anon;
grant execute on function private.check_day_range(date, date) to authenticated, service_role;

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
             'leads_paid', st.leads_paid,
             'leads_organic', st.leads_generated - st.leads_paid,
             'channels', (select coalesce(json_agg(json_build_object('channel', cs.channel, 'leads_generated', cs.leads_generated, 'leads_accepted', cs.leads_accepted) order by cs.channel), '[]'::json)
                           from public.lead_channel_stats cs
                           where cs.segment_id = st.segment_id and cs.day = st.day),
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

-- -----------------------------------------------------------------------------
-- POST /api/lead-segments
-- -----------------------------------------------------------------------------
create or replace function public.api_create_segment(
  p_industry_id uuid,
  p_region_code text,
  p_max_daily_budget numeric,
  p_min_daily_budget numeric default 0,
  p_target_cpl numeric default null,
  p_name text default null,
  p_is_active boolean default true,
  p_campaigns jsonb default '[]'::jsonb
)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  industry_slug text;
  industry_name text;
  region_name text;
  new_id uuid;
  assigned integer;
begin
  if not (select private.is_admin()) then
    raise exception 'only admins can create segments' using errcode = 'PT403';
  end if;
  select i.slug, i.name into industry_slug, industry_name
  from public.industries i where i.id = p_industry_id;
  if not found then
    raise exception 'unknown industry_id' using errcode = 'PT422';
  end if;
  select r.name into region_name from public.regions r where r.code = p_region_code;
  if not found then
    raise exception 'unknown region_code' using errcode = 'PT422';
  end if;
  if p_max_daily_budget is null or p_max_daily_budget <= 0
     or coalesce(p_min_daily_budget, 0) < 0
     or coalesce(p_min_daily_budget, 0) > p_max_daily_budget
     or p_target_cpl <= 0 then
    raise exception 'budgets need 0 <= min_daily_budget <= max_daily_budget, max_daily_budget > 0 '
      'and target_cpl > 0' using errcode = 'PT422';
  end if;

  begin
    insert into public.lead_segments
      (code, name, industry_id, region_code, is_active, min_daily_budget, max_daily_budget, target_cpl)
    values (
      industry_slug || '_' || p_region_code,
      coalesce(nullif(btrim(p_name), ''), industry_name || ' ' || region_name),
      p_industry_id,
      p_region_code,
      coalesce(p_is_active, true),
      coalesce(p_min_daily_budget, 0),
      p_max_daily_budget,
      p_target_cpl
    )
    returning id into new_id;
  exception
    when unique_violation then
      raise exception 'a segment for this industry and region already exists' using errcode = 'PT409';
    when check_violation or numeric_value_out_of_range then
      raise exception 'a value of the segment is out of range' using errcode = 'PT422';
  end;

  perform private.set_segment_campaigns(new_id, coalesce(p_campaigns, '[]'::jsonb));
  assigned := private.backfill_segment_leads(new_id);
  return private.segment_json(new_id, true) || jsonb_build_object('leads_assigned', assigned);
end
$$;
comment on function public.api_create_segment(uuid, text, numeric, numeric, numeric, text, boolean, jsonb) is
  'Admin: create the segment of an industry and province (code <industry slug>_<region code>), its '
  'campaign mappings, and assign the existing leads of that industry and province to it.';
revoke execute on function public.api_create_segment(uuid, text, numeric, numeric, numeric, text, boolean, jsonb)
  from public, anon;
grant execute on function public.api_create_segment(uuid, text, numeric, numeric, numeric, text, boolean, jsonb)
  to authenticated, service_role;

-- -----------------------------------------------------------------------------
-- PATCH /api/lead-segments/{id}
-- -----------------------------------------------------------------------------
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
