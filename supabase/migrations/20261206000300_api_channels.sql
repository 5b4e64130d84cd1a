-- =============================================================================
-- The API per channel: stats carry leads_paid, leads_organic and a row per channel;
-- plans the planned budget in cents and a row per paid channel; campaign mappings
-- name their channel.
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

create or replace function public.api_segment_stats(p_segment_id uuid, p_from date, p_to date)
returns json
language plpgsql stable
set search_path = ''
as $$
declare
  items json;
begin
  perform private.check_day_range(p_from, p_to);
  if (select private.is_admin()) then
    items := private.segment_stats_for_admin(p_segment_id, p_from, p_to);
  else
    -- RLS limits the rows to subscribed segments; the column grant leaves out money.
    perform private.check_readable_segment(p_segment_id);
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
    where st.segment_id = p_segment_id and st.day between p_from and p_to;
  end if;
  return json_build_object('segment_id', p_segment_id, 'from', p_from, 'to', p_to, 'items', items);
end
$$;
comment on function public.api_segment_stats(uuid, date, date) is
  'Daily stats of a segment from..to (at most 366 days): lead counts and capacity; money for admins only. '
  'PT404 for a segment the caller may not read.';
revoke execute on function public.api_segment_stats(uuid, date, date) from public, anon;
grant execute on function public.api_segment_stats(uuid, date, date) to authenticated, service_role;

