-- =============================================================================
-- Read functions: what dashboards, the CLI and the API call. Security invoker,
-- so RLS and column grants decide what each caller sees.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

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
