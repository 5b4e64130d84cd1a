-- =============================================================================
-- The plan job: each day's target per segment from partner capacity, paced over
-- the month and grossed up by the acceptance rate. Formulas: docs/FORMULAS.md.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Planning: target = paced capacity / acceptance rate
-- -----------------------------------------------------------------------------
create or replace function public.plan_lead_segments(p_day date)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
  missing_years integer[];
  v_month_start date := date_trunc('month', p_day::timestamp)::date;
  v_window_start date;
  -- The plan's parameters: their one home is public.orchestration_settings (its checks
  -- keep them in range).
  params record;
begin
  if p_day is null then
    raise exception 'plan_lead_segments needs a day' using errcode = '22023';
  end if;
  select o.acceptance_window_days, o.prior_acceptance, o.prior_acceptance_weight, o.max_pace
    into params
    from public.orchestration_settings o;
  if not found then
    raise exception 'plan_lead_segments: orchestration_settings has no row' using errcode = '22023';
  end if;
  v_window_start := p_day - params.acceptance_window_days;
  select array_agg(distinct y) into missing_years
  from (values (extract(year from p_day)::integer)) v (y)
  where not exists (select 1 from public.public_holidays h where extract(year from h.day) = v.y);
  if missing_years is not null then
    raise exception 'no public holidays loaded for %: sync them before planning', missing_years
      using errcode = '22023';
  end if;

  with segs as (
    select s.id from public.lead_segments s where s.is_active
  ),
  cap as (
    select c.* from public.segment_capacity(p_day, p_day) c
  ),
  month_working as (
    -- Working days of p_day's month before p_day (elapsed) and from p_day on (remaining).
    select count(*) filter (where d < p_day)::integer as elapsed,
           count(*) filter (where d >= p_day)::integer as remaining
    from generate_series(date_trunc('month', p_day),
                         date_trunc('month', p_day) + interval '1 month' - interval '1 day',
                         interval '1 day') as d
    left join public.public_holidays h on h.day = d::date
    where extract(isodow from d) < 6 and h.day is null
  ),
  month_days as (
    -- Working days of p_day's month before p_day: stats of these days count as measured.
    select d::date as day
    from generate_series(v_month_start::timestamp, (p_day - 1)::timestamp, interval '1 day') as d
    left join public.public_holidays h on h.day = d::date
    where extract(isodow from d) < 6 and h.day is null
  ),
  month_stats as (
    -- One pass over the stats for both the acceptance window and the month so far, with
    -- constant bounds (nothing computed per row but the comparisons).
    -- Expected accepted leads so far this month: accepted, plus pending at the acceptance
    -- rate, over the measured days; the working days not measured (e.g. before the first
    -- run) count as delivered on plan, so a mid-month start does not chase a whole month.
    select st.segment_id,
           sum(st.leads_accepted) filter (where st.day >= v_window_start) as window_accepted,
           sum(st.leads_rejected) filter (where st.day >= v_window_start) as window_rejected,
           sum(st.leads_accepted) filter (where st.day >= v_month_start) as month_accepted,
           sum(st.leads_pending) filter (where st.day >= v_month_start) as month_pending,
           count(md.day)::integer as measured_working
    from public.lead_generation_stats st
    left join month_days md on md.day = st.day
    where st.day >= least(v_window_start, v_month_start) and st.day < p_day
    group by st.segment_id
  ),
  rates as (
    select s.id as segment_id,
           least(1, greatest(0.05,
             (coalesce(ms.window_accepted, 0)
              + params.prior_acceptance * params.prior_acceptance_weight)
             / nullif(coalesce(ms.window_accepted, 0) + coalesce(ms.window_rejected, 0)
                      + params.prior_acceptance_weight, 0)
           )) as rate,
           ms.month_accepted, ms.month_pending, ms.measured_working
    from segs s left join month_stats ms on ms.segment_id = s.id
  ),
  targets as (
    select s.id as segment_id,
           coalesce(c.capacity, 0) as capacity,
           coalesce(r.rate, params.prior_acceptance) as rate,
           case
             when coalesce(c.is_working_day, false) and mw.remaining > 0 then
               least(
                 greatest(c.monthly_capacity
                          - coalesce(r.month_accepted, 0)
                          - coalesce(r.month_pending, 0) * coalesce(r.rate, params.prior_acceptance)
                          - greatest(mw.elapsed - coalesce(r.measured_working, 0), 0)
                            * c.monthly_capacity / nullif(c.working_days, 0), 0) / mw.remaining,
                 c.capacity * params.max_pace)
             else 0
           end as accepted_target
    from segs s
    cross join month_working mw
    left join cap c on c.segment_id = s.id
    join rates r on r.segment_id = s.id
  )
  insert into public.lead_segment_plans as p
    (segment_id, day, capacity, acceptance_rate, target_leads)
  select t.segment_id, p_day, round(t.capacity, 2), round(t.rate, 4),
         round(t.accepted_target / t.rate, 2)
  from targets t
  on conflict (segment_id, day) do update set
    capacity = excluded.capacity,
    acceptance_rate = excluded.acceptance_rate,
    target_leads = excluded.target_leads
  where (p.capacity, p.acceptance_rate, p.target_leads)
        is distinct from
        (excluded.capacity, excluded.acceptance_rate, excluded.target_leads);
  get diagnostics written = row_count;

  -- The gaps of the days whose stats this plan read (and of p_day itself): the plan job is
  -- the one writer of plans, so it brings their measured actuals in.
  perform public.update_lead_gaps(least(v_window_start, v_month_start), p_day);
  return written;
end
$$;
comment on function public.plan_lead_segments(date) is
  'Write lead_segment_plans for a Dutch day for every active segment: target = paced capacity / '
  'acceptance rate, with the parameters of orchestration_settings (see docs/FORMULAS.md). Returns '
  'the rows written or changed.';
revoke execute on function public.plan_lead_segments(date) from public, anon, authenticated;
grant execute on function public.plan_lead_segments(date) to service_role;
