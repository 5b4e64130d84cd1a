-- =============================================================================
-- API: the functions `functions/api` calls, one per route.
--
-- Every public function here is security invoker, so RLS and column grants
-- decide what the caller sees. What partners may never read (budget bounds,
-- target CPL, revenue, spend, CPL, planned budgets) the authenticated role has
-- no column grant for; admins get those columns through the `private.*_money`
-- and `private.*_for_admin` helpers below, which are security definer and
-- answer only for an admin.
--
-- Errors for the API: PTnnn codes become HTTP status nnn in PostgREST (and in
-- the direct transport), and their messages are written for the caller:
--   PT403 an admin-only function called by someone else
--   PT404 unknown segment, or one the caller may not read (never a leak)
--   PT409 a conflicting segment or campaign mapping
--   PT422 a value the database refuses
-- 42501 (insufficient privilege, e.g. anon calling a function it has no
-- grant for) becomes 401 for anon, 403 otherwise.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Privileged helpers: admin-only columns, each checking the caller itself
-- -----------------------------------------------------------------------------

create or replace function private.segment_money(p_segment_ids uuid[])
returns table (segment_id uuid, min_daily_budget numeric, max_daily_budget numeric, target_cpl numeric)
language plpgsql stable security definer
set search_path = ''
as $$
begin
  -- plpgsql, not sql: its plan is kept for the session instead of made on every call.
  return query
    select s.id, s.min_daily_budget, s.max_daily_budget, s.target_cpl
    from public.lead_segments s
    where (select private.is_admin())
      and s.id = any (p_segment_ids);
end
$$;
comment on function private.segment_money(uuid[]) is
  'Budget bounds and target CPL of the given segments; no rows unless the caller is an admin.';
revoke execute on function private.segment_money(uuid[]) from public, anon;
grant execute on function private.segment_money(uuid[]) to authenticated, service_role;

-- The whole daily stats / plans of a segment for an admin, money included, in
-- one query. Partners never get here: they read the same tables through RLS
-- and their column grants (see public.api_segment_stats / _plans). Built as
-- json, not jsonb: these are the API's largest answers, and json is built
-- without parsing or sorting keys.
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

-- Segments that ran at their maximum budget and still fell short of target on
-- each of the 7 complete days before p_day: more budget is not allowed, so the
-- target cannot be reached by the orchestrator alone.
create or replace function private.capacity_unreachable_segments(p_day date)
returns table (
  segment_id uuid,
  code text,
  max_daily_budget numeric,
  days integer,
  total_gap numeric,
  last_day date
)
language sql stable security definer
set search_path = ''
as $$
  select s.id, s.code, s.max_daily_budget, count(*)::integer, sum(d.lead_gap), max(d.day)
  from public.lead_segments s
  join public.lead_segment_days d on d.segment_id = s.id
  where (select private.is_admin())
    and s.is_active
    and d.day between p_day - 7 and p_day - 1
    and d.planned_budget_micros >= s.max_daily_budget * 1000000
    and d.lead_gap > 0
  group by s.id, s.code, s.max_daily_budget
  having count(*) = 7
  order by s.code
$$;
comment on function private.capacity_unreachable_segments(date) is
  'Active segments at max daily budget and under target on all 7 days before p_day; no rows unless admin.';
revoke execute on function private.capacity_unreachable_segments(date) from public, anon;
grant execute on function private.capacity_unreachable_segments(date) to authenticated, service_role;

-- Creating a segment leaves the leads that already exist for its industry and
-- region without a segment (the trigger only runs on insert and on change).
-- `public.assign_lead_segments` is for the service role alone; this helper
-- lets an admin run it, bounded to the days on which such leads exist.
create or replace function private.backfill_segment_leads(p_segment_id uuid)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  first_day date;
  last_day date;
begin
  if not (select private.is_admin()) then
    raise exception 'only admins can assign leads to segments' using errcode = 'PT403';
  end if;
  select min((l.created_at at time zone 'Europe/Amsterdam')::date),
         max((l.created_at at time zone 'Europe/Amsterdam')::date)
    into first_day, last_day
  from public.leads l
  join public.lead_segments s on s.industry_id = l.industry_id and s.region_code = l.region_code
  where s.id = p_segment_id and l.segment_id is null;
  if first_day is null then
    return 0;
  end if;
  return public.assign_lead_segments(first_day, last_day);
end
$$;
comment on function private.backfill_segment_leads(uuid) is
  'Admin-only: give existing leads of the segment''s industry and region (without a segment) their segment; '
  'returns how many leads were assigned.';
revoke execute on function private.backfill_segment_leads(uuid) from public, anon;
grant execute on function private.backfill_segment_leads(uuid) to authenticated, service_role;

-- -----------------------------------------------------------------------------
-- Invoker helpers (not exposed): shared by the API functions
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

-- Segments as the caller may see them, one JSON object each, set-based: one
-- query for the whole page (no function call per row). Security invoker: RLS
-- decides which rows are visible; money keys (and, on request, the campaign
-- mappings) appear only for an admin, from the security definer helper. The
-- API passes this JSON through as its response body, so the keys here are
-- exactly the `Segment` response model's (tests/core/test_api_models.py checks).
create or replace function private.segments_json(p_segment_ids uuid[], p_with_campaigns boolean)
returns table (segment_id uuid, code text, segment json)
language plpgsql stable
set search_path = ''
as $$
begin
  -- plpgsql, not sql: the plan is kept for the session instead of made on every call.
  return query
  with money as (
    select m.* from private.segment_money(p_segment_ids) m
  )
  -- A money row means an admin, who may read every segment's stats and plans
  -- (private.readable_segment_ids() is all segments for them): not built then.
  -- row_to_json of a row with the response's columns: cheaper than json_build_object.
  select s.id, s.code,
         case
           when m.segment_id is null then (
             select row_to_json(x) from (
               select s.id, s.code, s.name, s.industry_id, s.region_code, s.is_active,
                      s.id in (select r.id from private.readable_segment_ids() r (id)) as can_view_stats,
                      s.created_at, s.updated_at) x)
           when not p_with_campaigns then (
             select row_to_json(x) from (
               select s.id, s.code, s.name, s.industry_id, s.region_code, s.is_active,
                      true as can_view_stats, s.created_at, s.updated_at, m.min_daily_budget,
                      m.max_daily_budget, m.target_cpl) x)
           else (
             select row_to_json(x) from (
               select s.id, s.code, s.name, s.industry_id, s.region_code, s.is_active,
                      true as can_view_stats, s.created_at, s.updated_at, m.min_daily_budget,
                      m.max_daily_budget, m.target_cpl,
                      -- Campaign mappings are admin-only and not granted to authenticated
                      -- (pg_graphql): read through the checked definer function.
                      coalesce(private.segment_campaigns_for_admin(s.id)::json, '[]'::json)
                        as campaigns) x)
         end
  from public.lead_segments s
  left join money m on m.segment_id = s.id
  where s.id = any (p_segment_ids);
end
$$;
comment on function private.segments_json(uuid[], boolean) is
  'The given segments as JSON as the caller may see them (RLS), in one query; money and, on request, '
  'campaign mappings for admins only.';
revoke execute on function private.segments_json(uuid[], boolean) from public, anon;
grant execute on function private.segments_json(uuid[], boolean) to authenticated, service_role;

-- One segment as the caller may see it (for the write functions' answers).
create or replace function private.segment_json(p_segment_id uuid, p_with_campaigns boolean)
returns jsonb
language sql stable
set search_path = ''
as $$
  select j.segment::jsonb from private.segments_json(array[p_segment_id], p_with_campaigns) j
$$;
comment on function private.segment_json(uuid, boolean) is
  'A segment as JSON as the caller may see it (RLS); money and, on request, campaign mappings for admins only.';
revoke execute on function private.segment_json(uuid, boolean) from public, anon;
grant execute on function private.segment_json(uuid, boolean) to authenticated, service_role;

-- Make the segment's campaign mappings exactly p_campaigns ([{channel, customer_id,
-- campaign_id, budget_resource_name, is_active}], channel google_ads when not
-- given): update those that exist,
-- add the new ones, delete the rest. Security definer (the table is not granted
-- to authenticated, so that pg_graphql does not list it): admins only, checked here.
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
