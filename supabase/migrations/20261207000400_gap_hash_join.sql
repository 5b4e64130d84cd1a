-- The gaps' update joined by hash (issue 24): with nested loops off, the planner (guessing one
-- plan in the window: no statistics yet, a cached generic plan) merge-joined the plans and
-- the stats on the day alone and filtered the segment: 467,000 rows compared for 5,220 plans,
-- 161 ms a call, the largest single cost of `leadflow simulate` (bench/RESULTS.md).
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- supabase/schemas/12_gap.sql
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
