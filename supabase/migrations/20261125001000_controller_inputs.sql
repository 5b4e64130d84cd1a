-- =============================================================================
-- The controller's inputs, measured at the current spend.
--
-- The trailing week's mean leads lag every budget change by up to a week (and the
-- conversions of a day's clicks arrive over up to three days), so a controller
-- fed that mean keeps pushing after its last change already closes the gap, and
-- overshoots. Each day's paid leads are now scaled to yesterday's spend with the
-- controller's own response curve (paid leads grow like spend ^ e, e = 0.5):
--
--   expected_leads = mean over the week of
--                    (leads - paid leads + paid leads x (spend yesterday / spend that day) ^ e)
--
-- Everything else (target, paid leads, spend, data age, lost impression share)
-- is as in 20261125000650_orchestrate.sql. Found with `leadflow simulate`
-- (bench/RESULTS.md, "Controller simulation").
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

create or replace function public.orchestration_inputs(p_day date, p_window_days integer default 7)
returns table (
  segment_id uuid,
  code text,
  customer_id text,
  campaign_id text,
  budget_resource_name text,
  budgets_in_segment integer,
  min_budget_micros bigint,
  max_budget_micros bigint,
  target_cpl_micros bigint,
  has_plan boolean,
  target_leads numeric,
  expected_leads numeric,
  paid_leads numeric,
  spend_micros bigint,
  data_age_days integer,
  lost_impression_share_budget numeric
)
language sql stable
set search_path = ''
as $$
  with budgets as (
    select s.id as segment_id, s.code, s.min_daily_budget, s.max_daily_budget, s.target_cpl,
           cb.customer_id, cb.campaign_id, cb.budget_resource_name,
           count(*) over (partition by s.id) as n
    from public.lead_segments s
    join public.segment_campaign_budgets cb on cb.segment_id = s.id and cb.is_active
    where s.is_active
  ),
  targets as (
    -- Trailing week of targets ending today: each weekday once.
    select p.segment_id, avg(p.target_leads) as target,
           bool_or(p.day = p_day) as has_today
    from public.lead_segment_plans p
    where p.day > p_day - p_window_days and p.day <= p_day
    group by p.segment_id
  ),
  actuals as (
    -- Trailing week of measured days before today: paid leads and spend for the CPL.
    select st.segment_id,
           avg(st.leads_google_ads) as paid,
           avg(st.ad_spend) as spend
    from public.lead_generation_stats st
    where st.day >= p_day - p_window_days and st.day < p_day
    group by st.segment_id
  ),
  yesterday as (
    select st.segment_id, st.ad_spend as spend
    from public.lead_generation_stats st
    where st.day = p_day - 1
  ),
  at_current_spend as (
    -- The trailing week's leads, each day's paid leads scaled to yesterday's spend: paid
    -- leads grow like spend ^ e (e = 0.5, the controller's default lead_elasticity).
    -- A day without spend to compare counts as it was.
    select st.segment_id,
           avg(st.leads_generated - st.leads_google_ads + st.leads_google_ads * case
                 when st.ad_spend > 0 and y.spend > 0 then power(y.spend / st.ad_spend, 0.5)
                 else 1 end) as expected
    from public.lead_generation_stats st
    left join yesterday y on y.segment_id = st.segment_id
    where st.day >= p_day - p_window_days and st.day < p_day
    group by st.segment_id
  ),
  newest as (
    select st.segment_id, max(st.day) as day
    from public.lead_generation_stats st
    where st.day < p_day and st.day >= p_day - 60
    group by st.segment_id
  )
  select b.segment_id, b.code, b.customer_id, b.campaign_id, b.budget_resource_name, b.n::integer,
         round(b.min_daily_budget * 1000000)::bigint,
         round(b.max_daily_budget * 1000000)::bigint,
         round(b.target_cpl * 1000000)::bigint,
         coalesce(t.has_today, false),
         round(t.target / b.n, 4),
         round(e.expected / b.n, 4),
         round(a.paid / b.n, 4),
         round(a.spend * 1000000 / b.n)::bigint,
         (p_day - nw.day)::integer,
         m.search_budget_lost_impression_share
  from budgets b
  left join targets t on t.segment_id = b.segment_id
  left join actuals a on a.segment_id = b.segment_id
  left join at_current_spend e on e.segment_id = b.segment_id
  left join newest nw on nw.segment_id = b.segment_id
  left join public.ad_campaign_daily_metrics m
    on m.customer_id = b.customer_id and m.campaign_id = b.campaign_id and m.day = p_day - 1
  order by b.code, b.budget_resource_name
$$;
comment on function public.orchestration_inputs(date, integer) is
  'Per active mapped budget: bounds, trailing-week average target, trailing-week leads at yesterday''s '
  'spend (each day''s paid leads x (spend yesterday / spend that day) ^ 0.5), paid leads and spend '
  '(split evenly over a segment''s budgets), data age and lost impression share. See docs/FORMULAS.md.';
revoke execute on function public.orchestration_inputs(date, integer) from public, anon, authenticated;
grant execute on function public.orchestration_inputs(date, integer) to service_role;
