-- The estimator's plan: `scaled` reads each segment's recent days as arrays (one row per
-- segment and channel), materialized. Inlined, the planner (which guesses one row for
-- `daily` and `posterior`) joined them in a nested loop run once per segment: 6-15 s a run at
-- 180 segments, past PostgREST's 8 s statement timeout; now 0.05 s, the same estimates. The
-- halves break ties on spend by day (budget-limited days often spend exactly the budget):
-- the split, and so the estimate, no longer depends on the order rows are read in.
-- Same body as supabase/schemas/19_response_estimates.sql.

set local lock_timeout = '1s';
set local statement_timeout = '30s';

create or replace function public.estimate_segment_responses(p_day date)
returns integer
language sql
security definer
set search_path = ''
as $$
  with params as (
    select o.prior_elasticity as e0, o.elasticity_spread as tau_min, o.elasticity_spread_max as tau_max,
           o.response_window_days as w, o.value_window_days as vw, o.saturation_lost_share as sat,
           o.elasticity_min as e_min, o.elasticity_max as e_max, o.demand_variance as dv,
           o.scale_window_days as sw, o.min_accepted_for_value as min_acc
    from public.orchestration_settings o
    limit 1  -- one row; without statistics the planner guesses 530 (bench/RESULTS.md)
  ),
  segments as (
    select s.id as segment_id, s.industry_id, s.region_code
    from public.lead_segments s where s.is_active
  ),
  curves as (
    -- One curve per active segment and paid channel it has an active budget on.
    select distinct s.segment_id, s.industry_id, s.region_code, cb.channel
    from segments s
    join public.segment_campaign_budgets cb on cb.segment_id = s.segment_id and cb.is_active
  ),
  daily as (
    -- Per segment, channel and click day: spend (euro) and the channel's conversions (on the
    -- click's day), on days the budget limited (impressions lost to budget): there, spend is
    -- what the budget let through, not what demand asked for.
    select cb.segment_id, cb.channel, m.day,
           sum(m.cost_micros) / 1e6 as spend, sum(m.conversions) as conversions,
           max(m.search_budget_lost_impression_share) as lost
    from public.segment_campaign_budgets cb
    join public.ad_campaign_daily_metrics m
      on m.channel = cb.channel and m.customer_id = cb.customer_id and m.campaign_id = cb.campaign_id
    cross join params p
    where cb.is_active and m.day >= p_day - p.w and m.day < p_day
    group by cb.segment_id, cb.channel, m.day
  ),
  halves as (
    -- The segment's budget-limited days split at the median spend; the elasticity is the
    -- ratio of log means between the halves (a grouping estimator: no log of small counts,
    -- which biases a least-squares slope on 1-3 leads a day toward 0).
    select h.segment_id, h.channel, h.half, count(*) as n, avg(h.spend) as spend,
           avg(h.conversions) as conversions, sum(h.conversions) as total
    -- (Budget-limited days often spend exactly the budget: the day breaks ties, so the halves,
    -- and the estimate, do not depend on the order the rows happen to be read in.)
    from (select d.*, ntile(2) over (partition by d.segment_id, d.channel order by d.spend, d.day) as half
          from daily d cross join params p
          where d.spend > 0 and coalesce(d.lost, 0) >= p.sat) h
    group by h.segment_id, h.channel, h.half
  ),
  pairs as (
    -- Both halves on one row, by one grouping (a self-join of the halves, whose row count
    -- the planner cannot estimate, became a 10,000 x 10,000 nested loop at 10,000 segments).
    select h.segment_id, h.channel,
           max(h.n) filter (where h.half = 1) as lo_n, max(h.n) filter (where h.half = 2) as hi_n,
           max(h.spend) filter (where h.half = 1) as lo_spend,
           max(h.spend) filter (where h.half = 2) as hi_spend,
           max(h.conversions) filter (where h.half = 1) as lo_conversions,
           max(h.conversions) filter (where h.half = 2) as hi_conversions,
           max(h.total) filter (where h.half = 1) as lo_total,
           max(h.total) filter (where h.half = 2) as hi_total
    from halves h
    group by h.segment_id, h.channel
  ),
  own as (
    -- var(ln mean) of a half: Poisson (1 / its leads) plus day-to-day demand
    -- (demand_variance / days).
    select pr.segment_id, pr.channel, pr.lo_n + pr.hi_n as n,
           ln(pr.hi_conversions / pr.lo_conversions) / ln(pr.hi_spend / pr.lo_spend) as slope,
           (1 / pr.hi_total + p.dv / pr.hi_n + 1 / pr.lo_total + p.dv / pr.lo_n)
             / ln(pr.hi_spend / pr.lo_spend) ^ 2 as var
    from pairs pr cross join params p
    where pr.lo_total > 0 and pr.hi_total > 0 and pr.hi_spend > pr.lo_spend * 1.01
  ),
  with_own as (
    select s.*, o.n, o.slope, o.var
    from curves s left join own o on o.segment_id = s.segment_id and o.channel = s.channel
  ),
  spread as (
    -- τ, the spread of the true elasticities between the channel's segments, from the spread of
    -- their own estimates beyond their noise (DerSimonian-Laird: Q = Σ w (own e - mean)², w =
    -- 1 / var; τ² = (Q - (k - 1)) / (Σ w - Σ w² / Σ w)), kept within elasticity_spread ..
    -- elasticity_spread_max: where the segments differ, the prior holds them less.
    select w.channel,
           (sum(w.slope ^ 2 / w.var) - sum(w.slope / w.var) ^ 2 / sum(1 / w.var) - (count(*) - 1))
           / nullif(sum(1 / w.var) - sum(1 / w.var ^ 2) / sum(1 / w.var), 0) as tau2
    from with_own w
    where w.var is not null
    group by w.channel
  ),
  taus as (
    select c.channel,
           least(greatest(coalesce(sqrt(greatest(sp.tau2, 0)), 0), p.tau_min), p.tau_max) as tau,
           p.e0
    from (select distinct w.channel from with_own w) c
    cross join params p
    left join spread sp on sp.channel = c.channel
  ),
  industry_pool as (
    -- Precision-weighted mean of the industry's segments on the channel and the prior.
    select w.industry_id, w.channel,
           (t.e0 / t.tau ^ 2 + coalesce(sum(w.slope / (w.var + t.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / t.tau ^ 2 + coalesce(sum(1 / (w.var + t.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w join taus t on t.channel = w.channel
    group by w.industry_id, w.channel, t.e0, t.tau
  ),
  province_pool as (
    select w.region_code, w.channel,
           (t.e0 / t.tau ^ 2 + coalesce(sum(w.slope / (w.var + t.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / t.tau ^ 2 + coalesce(sum(1 / (w.var + t.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w join taus t on t.channel = w.channel
    group by w.region_code, w.channel, t.e0, t.tau
  ),
  posterior as (
    select w.segment_id, w.channel, w.industry_id, w.n, w.slope, w.var,
           (ip.e + pp.e) / 2 as pooled,
           case when w.var is null then (ip.e + pp.e) / 2
                else (w.slope / w.var + (ip.e + pp.e) / 2 / t.tau ^ 2) / (1 / w.var + 1 / t.tau ^ 2)
           end as e,
           case when w.var is null then t.tau
                else sqrt(1 / (1 / w.var + 1 / t.tau ^ 2)) end as sd
    from with_own w
    join taus t on t.channel = w.channel
    join industry_pool ip on ip.industry_id = w.industry_id and ip.channel = w.channel
    join province_pool pp on pp.region_code = w.region_code and pp.channel = w.channel
  ),
  recent as materialized (
    -- Per segment and channel, its spend and conversions of the last scale_window_days as two
    -- arrays: one row each, so that `scaled` never joins `posterior` to `daily` row by row.
    select d.segment_id, d.channel, array_agg(d.spend) as spends, array_agg(d.conversions) as conversions
    from daily d cross join params p
    where d.day >= p_day - p.sw and d.spend > 0
    group by d.segment_id, d.channel
  ),
  scaled as materialized (
    -- Scale at the estimated elasticity over the last scale_window_days (recent: costs drift).
    -- From arrays, materialized: the planner guesses one row for `daily` and `posterior`, and
    -- joined them in a nested loop (inlined, once per segment: 180 x 180 x 56 rows, 6-15 s at
    -- 180 segments, past PostgREST's 8 s statement timeout; bench/RESULTS.md).
    select po.segment_id, po.channel,
           (select sum(u.conversions)
                   / nullif(sum(power(u.spend::float8, least(greatest(po.e, p.e_min), p.e_max)::float8)::numeric), 0)
            from unnest(r.spends, r.conversions) as u(spend, conversions)) as scale
    from posterior po
    cross join params p
    join recent r on r.segment_id = po.segment_id and r.channel = po.channel
  ),
  value_window as (
    select st.segment_id, sum(st.revenue) as revenue, sum(st.leads_accepted) as accepted
    from public.lead_generation_stats st cross join params p
    where st.day >= p_day - p.vw and st.day < p_day
    group by st.segment_id
  ),
  value_of as (
    -- The segment's mean price of an accepted lead; with fewer than min_accepted_for_value
    -- accepted leads its industry's, then every segment's; none: no value known (no economics rule).
    select s.segment_id,
           case when v.accepted >= p.min_acc then v.revenue / v.accepted
                when iv.accepted >= p.min_acc then iv.revenue / iv.accepted
                when av.accepted >= p.min_acc then av.revenue / av.accepted end as value,
           case when v.accepted >= p.min_acc then 'segment' when iv.accepted >= p.min_acc then 'industry'
                when av.accepted >= p.min_acc then 'all' else 'none' end as source
    from segments s
    cross join params p
    left join value_window v on v.segment_id = s.segment_id
    left join (select s2.industry_id, sum(v2.revenue) as revenue, sum(v2.accepted) as accepted
               from value_window v2 join segments s2 on s2.segment_id = v2.segment_id
               group by s2.industry_id) iv on iv.industry_id = s.industry_id
    cross join (select sum(v3.revenue) as revenue, sum(v3.accepted) as accepted from value_window v3) av
  ),
  written as (
    insert into public.segment_response_estimates as r
      (segment_id, channel, day, lead_value, lead_value_source, elasticity, elasticity_sd, own_elasticity,
       own_elasticity_sd, pooled_elasticity, scale, days_used, computed_at)
    select po.segment_id, po.channel, p_day, round(vo.value::numeric, 2), vo.source,
           round(least(greatest(po.e, p.e_min), p.e_max)::numeric, 4), round(po.sd::numeric, 4),
           case when po.slope is not null then round(least(greatest(po.slope, -999), 999)::numeric, 4) end,
           case when po.var is not null then round(least(sqrt(po.var), 999999)::numeric, 4) end,
           round(least(greatest(po.pooled, p.e_min), p.e_max)::numeric, 4),
           round(least(sc.scale, 99999999)::numeric, 6), coalesce(po.n, 0)::integer, now()
    from posterior po
    cross join params p
    join value_of vo on vo.segment_id = po.segment_id
    left join scaled sc on sc.segment_id = po.segment_id and sc.channel = po.channel
    on conflict (segment_id, channel, day) do update set
      lead_value = excluded.lead_value, lead_value_source = excluded.lead_value_source,
      elasticity = excluded.elasticity, elasticity_sd = excluded.elasticity_sd,
      own_elasticity = excluded.own_elasticity, own_elasticity_sd = excluded.own_elasticity_sd,
      pooled_elasticity = excluded.pooled_elasticity, scale = excluded.scale,
      days_used = excluded.days_used, computed_at = excluded.computed_at
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function public.estimate_segment_responses(date) is
  'Estimate, per active segment and paid channel it has a budget on, the value of an accepted lead and '
  'the channel''s spend -> paid leads curve for a day '
  '(from the days before it) into segment_response_estimates; returns how many. See docs/FORMULAS.md.';
revoke execute on function public.estimate_segment_responses(date) from public, anon, authenticated;
grant execute on function public.estimate_segment_responses(date) to service_role;
