-- =============================================================================
-- The gap: target - actual leads of a measured day. calculate_lead_gap reads
-- it, update_lead_gap(s) store it (called by the plan job).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- The gap: stored by the plan job (update_lead_gaps), read by calculate_lead_gap
-- -----------------------------------------------------------------------------

create or replace function public.calculate_lead_gap(p_segment_id uuid, p_day date) returns numeric
language sql stable
set search_path = ''
as $$
  -- What lead_gap becomes once update_lead_gaps copies the measured actual in.
  select p.target_leads - st.leads_generated
  from public.lead_segment_plans p
  join public.lead_generation_stats st on st.segment_id = p.segment_id and st.day = p.day
  where p.segment_id = p_segment_id and p.day = p_day
$$;
comment on function public.calculate_lead_gap(uuid, date) is
  'target - actual leads for a segment and day from the stats as they are now, without writing. Null when '
  'there is no plan (no target) or no stats row (actual not measured yet); a measured day with no leads '
  'has a stats row with 0.';
revoke execute on function public.calculate_lead_gap(uuid, date) from public, anon;
grant execute on function public.calculate_lead_gap(uuid, date) to authenticated, service_role;

create or replace function public.update_lead_gaps(p_from date, p_to date, p_segment_id uuid default null)
returns integer
language plpgsql
set search_path = ''
-- Hash joins: the planner guesses one plan in the window (no statistics, a cached generic
-- plan) and took nested loops, two index scans per plan (5,220 of each at 180 segments);
-- with those off, merge joins on the day alone, the segment a filter: 467,000 rows
-- compared for 5,220 plans, 161 ms a call in `leadflow simulate` (bench/RESULTS.md).
set enable_nestloop = off
set enable_mergejoin = off
as $$
declare
  written integer;
begin
  -- Only plans whose measured actual changed are written. (p.day and st.day in the window
  -- as pl.day is: each table read by its day range.)
  update public.lead_segment_plans p
     set actual_leads = st.leads_generated
    from public.lead_segment_plans pl
    left join public.lead_generation_stats st
      on st.segment_id = pl.segment_id and st.day = pl.day and st.day between p_from and p_to
   where pl.day between p_from and p_to
     and p.day between p_from and p_to
     and (p_segment_id is null or pl.segment_id = p_segment_id)
     and p.segment_id = pl.segment_id and p.day = pl.day
     and p.actual_leads is distinct from st.leads_generated;
  get diagnostics written = row_count;
  return written;
end
$$;
comment on function public.update_lead_gaps(date, date, uuid) is
  'Copy the measured actual leads into the plans of the days from..to (all segments, or one), which sets '
  'lead_gap; no stats row: actual and gap become null. Returns the plans whose actual changed. Called by '
  'the plan job (plan_lead_segments), the one writer of plans.';

create or replace function public.update_lead_gap(p_segment_id uuid, p_day date) returns numeric
language sql
set search_path = ''
as $$
  select public.update_lead_gaps(p_day, p_day, p_segment_id);
  select p.lead_gap from public.lead_segment_plans p where p.segment_id = p_segment_id and p.day = p_day
$$;
comment on function public.update_lead_gap(uuid, date) is
  'Write actual_leads (and so lead_gap) of one plan from its stats and return the gap. '
  'No plan: changes nothing, returns null. No stats: actual and gap become null (not measured).';

revoke execute on function public.update_lead_gaps(date, date, uuid) from public, anon, authenticated;
revoke execute on function public.update_lead_gap(uuid, date) from public, anon, authenticated;
grant execute on function public.update_lead_gaps(date, date, uuid) to service_role;
grant execute on function public.update_lead_gap(uuid, date) to service_role;

-- =============================================================================
-- Read functions: what dashboards, the CLI and the API call. Security invoker,
-- so RLS and column grants decide what each caller sees.
-- =============================================================================

create or replace function public.segment_overview(p_day date default null)
returns table (
  segment_id uuid,
  code text,
  day date,
  capacity numeric,
  target_leads numeric,
  actual_leads integer,
  lead_gap numeric
)
language sql stable
set search_path = ''
as $$
  select s.id, s.code, p.day, p.capacity, p.target_leads, p.actual_leads, p.lead_gap
  from public.lead_segments s
  left join lateral (
    select pl.day, pl.capacity, pl.target_leads, pl.actual_leads, pl.lead_gap
    from public.lead_segment_plans pl
    where pl.segment_id = s.id and (p_day is null or pl.day = p_day)
    order by pl.day desc
    limit 1
  ) p on true
  where s.is_active
  order by s.code
$$;
comment on function public.segment_overview(date) is
  'Each active segment with its plan for p_day (default: its latest plan): capacity, target, actual, gap.';
revoke execute on function public.segment_overview(date) from public, anon;
grant execute on function public.segment_overview(date) to authenticated, service_role;
