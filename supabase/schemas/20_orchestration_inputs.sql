-- =============================================================================
-- The controller's inputs, measured at the current spend, with the economics.
--
-- The trailing week's mean leads lag every budget change by up to a week (and the
-- conversions of a day's clicks arrive over up to three days), so a controller
-- fed that mean keeps pushing after its last change already closes the gap, and
-- overshoots. Each day's paid leads are now scaled to yesterday's spend with the
-- segment's estimated response curve (paid leads grow like spend ^ e, e from
-- segment_response_estimates, else orchestration_settings.prior_elasticity):
--
--   expected_leads = mean over the week of
--                    (leads - paid leads + paid leads x (spend yesterday / spend that day) ^ e)
--
-- Everything else (target, paid leads, spend, data age, lost impression share)
-- comes from the plans, the stats per channel and the channels' metrics. With more
-- than one channel per segment, the orchestrate job splits the segment's paid target
-- over them by marginal cost (leadflow.controller.allocation). Found with `leadflow simulate`
-- (bench/RESULTS.md, "Controller simulation").
--
-- Issue #11 adds, per budget: the value of an accepted lead, the acceptance rate of
-- the day's plan, the minimum margin (industry's, else the setting), the segment's
-- elasticity and its standard deviation, and the account's daily cap.
-- =============================================================================

create or replace function public.orchestration_inputs(p_day date)
returns table (
  segment_id uuid,
  code text,
  channel text,
  customer_id text,
  campaign_id text,
  budget_resource_name text,
  budgets_in_segment integer,
  budgets_in_channel integer,
  min_budget_micros bigint,
  max_budget_micros bigint,
  target_cpl_micros bigint,
  has_plan boolean,
  target_leads numeric,
  expected_leads numeric,
  paid_leads numeric,
  expected_paid_leads numeric,
  spend_micros bigint,
  data_age_days integer,
  lost_impression_share_budget numeric,
  lead_value_micros bigint,
  acceptance_rate numeric,
  min_margin numeric,
  lead_elasticity numeric,
  lead_elasticity_sd numeric,
  account_daily_cap_micros bigint,
  day_factor numeric,
  organic_leads numeric
)
language sql stable
set search_path = ''
as $$
  with settings as (
    select o.account_daily_cap, o.min_margin, o.prior_elasticity, o.elasticity_spread,
           o.response_window_days, o.forecast_prior_leads, o.steering_window_days,
           o.scale_window_days, o.estimate_max_age_days
    from public.orchestration_settings o
    limit 1  -- one row; without statistics the planner guesses 530 (bench/RESULTS.md)
  ),
  response as (
    -- The newest estimate per channel up to the day (estimate_segment_responses, run by
    -- orchestrate), of the last estimate_max_age_days.
    select distinct on (r.segment_id, r.channel) r.segment_id, r.channel, r.lead_value, r.elasticity,
           r.elasticity_sd
    from public.segment_response_estimates r
    cross join settings se
    where r.day <= p_day and r.day > p_day - se.estimate_max_age_days
    order by r.segment_id, r.channel, r.day desc
  ),
  budgets as (
    select s.id as segment_id, s.code, s.min_daily_budget, s.max_daily_budget, s.target_cpl,
           s.industry_id, cb.channel,
           cb.customer_id, cb.campaign_id, cb.budget_resource_name,
           count(*) over (partition by s.id) as n,
           count(*) over (partition by s.id, cb.channel) as n_channel
    from public.lead_segments s
    join public.segment_campaign_budgets cb on cb.segment_id = s.id and cb.is_active
    where s.is_active
  ),
  curves as (
    select distinct b.segment_id, b.channel from budgets b
  ),
  targets as (
    -- Trailing steering window of targets ending today (whole weeks: each weekday equally).
    select p.segment_id, avg(p.target_leads) as target,
           bool_or(p.day = p_day) as has_today,
           max(p.acceptance_rate) filter (where p.day = p_day) as acceptance_rate
    from public.lead_segment_plans p
    cross join settings se
    where p.day > p_day - se.steering_window_days and p.day <= p_day
    group by p.segment_id
  ),
  channel_days as (
    -- Every measured day of the last scale_window_days (the longest window below) for each
    -- channel the segment steers: its leads and spend there, 0 on a day without a row.
    select st.segment_id, st.day, c.channel,
           coalesce(cs.leads_generated, 0) as leads, coalesce(cs.spend, 0) as spend,
           coalesce(cs.clicks, 0) as clicks
    from public.lead_generation_stats st
    cross join settings se
    join curves c on c.segment_id = st.segment_id
    left join public.lead_channel_stats cs
      on cs.segment_id = st.segment_id and cs.day = st.day and cs.channel = c.channel
     -- The same days, as bounds the planner can scan the index by (from `settings` it read
     -- and hashed every channel stats row: 37,715 at 180 segments and 210 days, 15 ms).
     and cs.day < p_day
     and cs.day >= p_day - (select greatest(o.scale_window_days, o.steering_window_days)
                            from public.orchestration_settings o limit 1)
    where st.day >= p_day - greatest(se.scale_window_days, se.steering_window_days) and st.day < p_day
  ),
  week_spend as (
    -- Trailing steering window of measured days before today: the spend the CPL is measured at.
    select cd.segment_id, cd.channel, avg(cd.spend) as spend
    from channel_days cd
    cross join settings se
    where cd.day >= p_day - se.steering_window_days
    group by cd.segment_id, cd.channel
  ),
  click_rates as materialized (
    -- Paid leads per click on the channel over the response window: a rate that moves slowly,
    -- measured on many leads. Materialized: inlined, the planner may aggregate it again for
    -- every row of `actuals`.
    select cs.segment_id, cs.channel, sum(cs.leads_generated) / sum(cs.clicks)::numeric as rate
    from public.lead_channel_stats cs
    cross join settings se
    join curves c on c.segment_id = cs.segment_id and c.channel = cs.channel
    where cs.day < p_day and cs.day >= p_day - se.response_window_days
     -- The lower bound again, as one the planner can scan the index by.
     and cs.day >= p_day - (select o.response_window_days from public.orchestration_settings o limit 1)
    group by cs.segment_id, cs.channel
    having sum(cs.clicks) > 0
  ),
  actuals as (
    -- Paid leads per day on the channel at the week's spend: the last scale_window_days (two
    -- weeks), each day's scaled to that spend along the channel's curve (a budget change
    -- counts at once). With clicks: the days' clicks so scaled, times the paid leads per
    -- click (tens of clicks a day against a few leads: the level with a fraction of the
    -- noise); without: the days' paid leads. A day without spend counts as it was.
    select cd.segment_id, cd.channel,
           case when cr.rate is not null and sum(cd.clicks) > 0
                then cr.rate * avg(cd.clicks * sc.factor)
                else avg(cd.leads * sc.factor) end as paid,
           ws.spend
    from channel_days cd
    cross join settings se
    join week_spend ws on ws.segment_id = cd.segment_id and ws.channel = cd.channel
    left join response r on r.segment_id = cd.segment_id and r.channel = cd.channel
    left join click_rates cr on cr.segment_id = cd.segment_id and cr.channel = cd.channel
    cross join lateral (
      select case when cd.spend > 0 and ws.spend > 0
                  then power((ws.spend / cd.spend)::float8,
                             coalesce(r.elasticity, se.prior_elasticity)::float8)::numeric
                  else 1 end as factor
    ) sc
    where cd.day >= p_day - se.scale_window_days
    group by cd.segment_id, cd.channel, ws.spend, cr.rate
  ),
  yesterday as (
    select cs.segment_id, cs.channel, cs.spend
    from public.lead_channel_stats cs
    where cs.day = p_day - 1
  ),
  paid_now as (
    -- The channel's leads of the trailing week, each day's scaled to yesterday's spend on the
    -- channel: paid leads grow like spend ^ e (the channel's estimated elasticity, else the
    -- prior). A day without spend to compare counts as it was.
    select cd.segment_id, cd.channel,
           avg(cd.leads * case
                 when cd.spend > 0 and y.spend > 0
                 then power((y.spend / cd.spend)::float8, coalesce(r.elasticity, se.prior_elasticity)::float8)::numeric
                 else 1 end) as paid
    from channel_days cd
    cross join settings se
    left join yesterday y on y.segment_id = cd.segment_id and y.channel = cd.channel
    left join response r on r.segment_id = cd.segment_id and r.channel = cd.channel
    where cd.day >= p_day - se.steering_window_days
    group by cd.segment_id, cd.channel
  ),
  steered as (
    -- The steered channels' leads per segment and day of the trailing week, summed once
    -- (a lateral sum per stats row rescanned `curves` 1,260 times a call).
    select x.segment_id, x.day, sum(x.leads_generated) as steered
    from public.lead_channel_stats x
    cross join settings se
    join curves c on c.segment_id = x.segment_id and c.channel = x.channel
    where x.day >= p_day - se.steering_window_days and x.day < p_day
     -- The lower bound again, as one the planner can scan the index by (from `settings` it
     -- read every day of each segment's history and filtered after: 17 ms of 43 a call at
     -- 180 segments and 119 days, growing with the history).
     and x.day >= p_day - (select o.steering_window_days from public.orchestration_settings o limit 1)
    group by x.segment_id, x.day
  ),
  at_current_spend as (
    -- The segment's trailing week: leads not from a steered channel as they were, plus each
    -- steered channel's at yesterday's spend.
    select st.segment_id,
           avg(st.leads_generated - coalesce(cs.steered, 0)) as organic
    from public.lead_generation_stats st
    cross join settings se
    left join steered cs on cs.segment_id = st.segment_id and cs.day = st.day
    where st.day >= p_day - se.steering_window_days and st.day < p_day
    group by st.segment_id
  ),
  expected as (
    -- paid_now summed per segment in one pass, joined (not a subquery rescanning it per segment).
    select a.segment_id, a.organic,
           a.organic + coalesce(pn.paid, 0) as expected
    from at_current_spend a
    left join (select p.segment_id, sum(p.paid) as paid from paid_now p group by p.segment_id) pn
      on pn.segment_id = a.segment_id
  ),
  industry_days as (
    -- Each industry's leads per day over the response window: hashed in one pass, so
    -- `pattern` counts days without sorting every stats row for count(distinct day).
    select s.industry_id, st.day, sum(st.leads_generated) as leads
    from public.lead_generation_stats st
    join public.lead_segments s on s.id = st.segment_id
    cross join settings se
    where st.day >= p_day - se.response_window_days and st.day < p_day
    group by s.industry_id, st.day
  ),
  pattern as (
    -- The forecast: per industry and kind of day (ISO weekday 1-7; 0 a public holiday), its
    -- leads (all channels) and days over the response window.
    select d.industry_id,
           case when h.day is not null then 0 else extract(isodow from d.day)::integer end as kind,
           sum(d.leads)::bigint as leads, count(*) as days
    from industry_days d
    left join public.public_holidays h on h.day = d.day
    group by d.industry_id, 2
  ),
  factors as (
    -- A kind of day's leads against what the industry's mean day gives, shrunk toward 1
    -- by forecast_prior_leads.
    select pt.industry_id, pt.kind,
           (pt.leads + se.forecast_prior_leads)
           / (pt.days * tot.leads / tot.days + se.forecast_prior_leads) as factor
    from pattern pt
    join (select p2.industry_id, sum(p2.leads) as leads, sum(p2.days) as days
          from pattern p2 group by p2.industry_id) tot on tot.industry_id = pt.industry_id
    cross join settings se
  ),
  day_kinds as (
    select g.day::date as day,
           case when h.day is not null then 0 else extract(isodow from g.day)::integer end as kind
    from settings se
    cross join generate_series(p_day - se.steering_window_days, p_day, interval '1 day') as g (day)
    left join public.public_holidays h on h.day = g.day::date
  ),
  forecast as (
    -- The day's factor over the mean factor of the trailing week the leads are measured on;
    -- a kind without data counts 1.
    select i.industry_id,
           max(coalesce(f.factor, 1)) filter (where dk.day = p_day)
           / avg(coalesce(f.factor, 1)) filter (where dk.day < p_day) as factor
    from (select distinct f2.industry_id from factors f2) i
    cross join day_kinds dk
    left join factors f on f.industry_id = i.industry_id and f.kind = dk.kind
    group by i.industry_id
  ),
  newest as (
    -- Each steered segment's newest measured day of the last 60: one backward step down its
    -- (segment_id, day) index (grouping the 60 days' rows read 10,800 at 180 segments).
    select c.segment_id,
           (select max(st.day) from public.lead_generation_stats st
            where st.segment_id = c.segment_id and st.day < p_day and st.day >= p_day - 60) as day
    from (select distinct b.segment_id from budgets b) c
  )
  select b.segment_id, b.code, b.channel, b.customer_id, b.campaign_id, b.budget_resource_name,
         b.n::integer, b.n_channel::integer,
         round(b.min_daily_budget * 1000000)::bigint,
         round(b.max_daily_budget * 1000000)::bigint,
         round(b.target_cpl * 1000000)::bigint,
         coalesce(t.has_today, false),
         round(t.target / b.n, 4),
         round(e.expected / b.n, 4),
         round(a.paid / b.n_channel, 4),
         round(pn.paid / b.n_channel, 4),
         round(a.spend * 1000000 / b.n_channel)::bigint,
         (p_day - nw.day)::integer,
         m.search_budget_lost_impression_share,
         round(r.lead_value * 1000000)::bigint,
         t.acceptance_rate,
         coalesce(ie.min_margin, se.min_margin),
         coalesce(r.elasticity, se.prior_elasticity),
         coalesce(r.elasticity_sd, se.elasticity_spread),
         round(se.account_daily_cap * 1000000)::bigint,
         round(coalesce(fc.factor, 1), 4),
         round(e.organic * coalesce(fc.factor, 1) / b.n, 4)
  from budgets b
  cross join settings se
  left join response r on r.segment_id = b.segment_id and r.channel = b.channel
  left join public.industry_economics ie on ie.industry_id = b.industry_id
  left join targets t on t.segment_id = b.segment_id
  left join actuals a on a.segment_id = b.segment_id and a.channel = b.channel
  left join paid_now pn on pn.segment_id = b.segment_id and pn.channel = b.channel
  left join expected e on e.segment_id = b.segment_id
  left join newest nw on nw.segment_id = b.segment_id
  left join forecast fc on fc.industry_id = b.industry_id
  left join public.ad_campaign_daily_metrics m
    on m.channel = b.channel and m.customer_id = b.customer_id and m.campaign_id = b.campaign_id
   and m.day = p_day - 1
  order by b.code, b.channel, b.budget_resource_name
$$;
comment on function public.orchestration_inputs(date) is
  'Per active mapped budget: its channel, bounds, the segment''s average target and leads at yesterday''s '
  'spend over the trailing steering window (steering_window_days; each day''s paid leads on each steered '
  'channel x (spend yesterday / spend that day) ^ e, e that channel''s estimated elasticity), split '
  'evenly over the segment''s budgets; the channel''s paid leads at the week''s spend, its expected paid '
  'leads at yesterday''s spend and its spend (split evenly over the segment''s budgets on the channel); '
  'data age, lost impression share; value of an accepted lead, acceptance rate, minimum margin, the '
  'channel''s elasticity and its standard deviation, the account daily cap, and the forecast: the day''s '
  'weekday/holiday factor of the industry over the trailing week''s (day_factor) and the organic leads '
  'expected on the day. See docs/FORMULAS.md.';
revoke execute on function public.orchestration_inputs(date) from public, anon, authenticated;
grant execute on function public.orchestration_inputs(date) to service_role;
