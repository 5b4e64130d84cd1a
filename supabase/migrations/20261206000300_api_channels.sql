-- =============================================================================
-- The API per channel: stats carry leads_paid, leads_organic and a row per channel;
-- plans the planned budget in cents and a row per paid channel; campaign mappings
-- name their channel; the orchestration status has a row per paid channel.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

create or replace function private.segment_stats_for_admin(p_segment_id uuid, p_from date, p_to date)
returns json
language plpgsql stable security definer
set search_path = ''
as $$
declare
  items json;
begin
  if not (select private.is_admin()) then
    raise exception 'only admins can read money columns' using errcode = 'PT403';
  end if;
  if not exists (select 1 from public.lead_segments s where s.id = p_segment_id) then
    raise exception 'lead segment not found' using errcode = 'PT404';
  end if;
  select coalesce(json_agg(json_build_object(
           'day', st.day,
           'leads_generated', st.leads_generated,
           'leads_accepted', st.leads_accepted,
           'leads_rejected', st.leads_rejected,
           'leads_pending', st.leads_pending,
           'leads_paid', st.leads_paid,
           'leads_organic', st.leads_generated - st.leads_paid,
           'channels', (select coalesce(json_agg(json_build_object('channel', cs.channel, 'leads_generated', cs.leads_generated, 'leads_accepted', cs.leads_accepted, 'spend', cs.spend) order by cs.channel), '[]'::json)
                         from public.lead_channel_stats cs
                         where cs.segment_id = st.segment_id and cs.day = st.day),
           'active_partners', st.active_partners,
           'total_capacity', st.total_capacity,
           'computed_at', st.computed_at,
           'revenue', st.revenue,
           'ad_spend', st.ad_spend,
           'ad_clicks', st.ad_clicks,
           'ad_impressions', st.ad_impressions,
           'ad_conversions', st.ad_conversions,
           'cpl', st.cpl
         ) order by st.day), '[]'::json)
    into items
  from public.lead_generation_stats st
  where st.segment_id = p_segment_id and st.day between p_from and p_to;
  return items;
end
$$;
comment on function private.segment_stats_for_admin(uuid, date, date) is
  'Admin-only: daily stats of a segment from..to with revenue, spend, clicks, impressions, '
  'conversions and CPL, as a JSON array; PT404 for an unknown segment.';
revoke execute on function private.segment_stats_for_admin(uuid, date, date) from public, anon;
grant execute on function private.segment_stats_for_admin(uuid, date, date) to authenticated, service_role;

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
           'planned_budget', round(d.planned_budget_micros / 1000000.0, 2),
           'channels', (select coalesce(json_agg(json_build_object(
                                 'channel', cd.channel,
                                 'planned_budget', round(cd.planned_budget_micros / 1000000.0, 2),
                                 'expected_paid_leads', cd.expected_paid_leads,
                                 'budget_action', cd.budget_action) order by cd.channel), '[]'::json)
                        from public.lead_segment_channel_days cd
                        where cd.segment_id = p.segment_id and cd.day = p.day),
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

create or replace function private.set_segment_campaigns(p_segment_id uuid, p_campaigns jsonb)
returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  wanted integer;
  written integer;
begin
  if not (select private.is_admin()) then
    raise exception 'only admins can change campaign mappings' using errcode = 'PT403';
  end if;
  if jsonb_typeof(p_campaigns) is distinct from 'array' then
    raise exception 'campaigns must be an array' using errcode = 'PT422';
  end if;
  wanted := jsonb_array_length(p_campaigns);
  if (select count(distinct c.budget_resource_name)
        from jsonb_to_recordset(p_campaigns) as c (budget_resource_name text)) <> wanted
     or (select count(distinct (coalesce(c.channel, 'google_ads'), c.customer_id, c.campaign_id))
           from jsonb_to_recordset(p_campaigns) as c (channel text, customer_id text, campaign_id text))
        <> wanted
  then
    raise exception 'each campaign and each campaign budget may be listed once' using errcode = 'PT422';
  end if;

  begin
    delete from public.segment_campaign_budgets b
     where b.segment_id = p_segment_id
       and b.budget_resource_name not in (
             select c.budget_resource_name
             from jsonb_to_recordset(p_campaigns) as c (budget_resource_name text)
           );
    insert into public.segment_campaign_budgets
      (segment_id, channel, customer_id, campaign_id, budget_resource_name, is_active)
    select p_segment_id, coalesce(c.channel, 'google_ads'), c.customer_id, c.campaign_id,
           c.budget_resource_name, coalesce(c.is_active, true)
    from jsonb_to_recordset(p_campaigns)
           as c (channel text, customer_id text, campaign_id text, budget_resource_name text,
                 is_active boolean)
    on conflict (budget_resource_name) do update
      set channel = excluded.channel,
          customer_id = excluded.customer_id,
          campaign_id = excluded.campaign_id,
          is_active = excluded.is_active
      where public.segment_campaign_budgets.segment_id = p_segment_id;
    get diagnostics written = row_count;
  exception
    when unique_violation then
      raise exception 'a campaign in the mapping already belongs to another segment' using errcode = 'PT409';
    when foreign_key_violation then
      raise exception 'a campaign mapping names a channel that does not exist (see public.ad_channels)'
        using errcode = 'PT422';
    when check_violation or not_null_violation or invalid_text_representation then
      raise exception 'a campaign mapping is invalid: %', sqlerrm using errcode = 'PT422';
  end;
  -- A budget of another segment is left alone by the upsert's where clause.
  if written <> wanted then
    raise exception 'a campaign budget in the mapping already belongs to another segment' using errcode = 'PT409';
  end if;
end
$$;
comment on function private.set_segment_campaigns(uuid, jsonb) is
  'Replace a segment''s campaign budget mappings (every channel) with the given list (admins only).';
revoke execute on function private.set_segment_campaigns(uuid, jsonb) from public, anon;
grant execute on function private.set_segment_campaigns(uuid, jsonb) to authenticated, service_role;

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

