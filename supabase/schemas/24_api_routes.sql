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
