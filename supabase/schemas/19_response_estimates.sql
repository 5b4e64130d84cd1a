-- =============================================================================
-- The learned response per segment and paid channel: value of an accepted lead
-- and the spend -> paid leads curve, estimated set-based every orchestrate run.
-- =============================================================================

-- Each segment's estimated response and economics, per day they were computed for.
create table public.segment_response_estimates (
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  channel text not null references public.ad_channels (key),
  day date not null,
  lead_value numeric(12, 2),
  lead_value_source text not null check (lead_value_source in ('segment', 'industry', 'all', 'none')),
  elasticity numeric(6, 4) not null check (elasticity > 0 and elasticity <= 2),
  elasticity_sd numeric(6, 4) not null check (elasticity_sd >= 0),
  own_elasticity numeric(8, 4),
  own_elasticity_sd numeric(10, 4),
  pooled_elasticity numeric(6, 4) not null,
  scale numeric(14, 6),
  days_used integer not null default 0,
  computed_at timestamptz not null default now(),
  primary key (segment_id, channel, day)
);
create index segment_response_estimates_day_idx on public.segment_response_estimates (day);
create index segment_response_estimates_channel_idx on public.segment_response_estimates (channel);
comment on table public.segment_response_estimates is
  'Per segment, paid channel and day: value of an accepted lead (the segment''s) and the channel''s '
  'spend -> paid leads curve '
  '(paid leads/day = scale x spend ^ elasticity, spend in euro/day), elasticity with its standard '
  'deviation, pooled toward the industry''s and province''s on the same channel when the segment''s own '
  'data say little (by a spread measured from the segments'' own estimates). An elasticity above 1: '
  'the curve is convex where the segment spends. '
  'Written by estimate_segment_responses; admin-only. See docs/FORMULAS.md.';
alter table public.segment_response_estimates enable row level security;
revoke all on table public.segment_response_estimates from anon, authenticated, service_role;
grant select on table public.segment_response_estimates to service_role;
create policy "Admins can read response estimates"
  on public.segment_response_estimates for select to authenticated
  using ((select private.is_admin()));

create or replace function public.estimate_segment_responses(p_day date)
returns integer
language sql
security definer
set search_path = ''
as $$
  with recursive params as (
    select o.prior_elasticity as e0, o.elasticity_spread as tau_min, o.elasticity_spread_max as tau_max,
           o.response_window_days as w, o.value_window_days as vw, o.saturation_lost_share as sat,
           o.elasticity_min as e_min, o.elasticity_max as e_max, o.demand_variance as dv,
           o.scale_window_days as sw, o.min_accepted_for_value as min_acc,
           o.conversion_rate_spread as tau_cr_min
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
    -- Per segment, channel and click day: spend (euro), clicks and the channel's conversions
    -- (on the click's day), on days the budget limited (impressions lost to budget): there,
    -- spend is what the budget let through, not what demand asked for.
    select cb.segment_id, cb.channel, m.day,
           sum(m.cost_micros) / 1e6 as spend, sum(m.clicks) as clicks, sum(m.conversions) as conversions,
           max(m.search_budget_lost_impression_share) as lost
    from public.segment_campaign_budgets cb
    join public.ad_campaign_daily_metrics m
      on m.channel = cb.channel and m.customer_id = cb.customer_id and m.campaign_id = cb.campaign_id
    cross join params p
    where cb.is_active and m.day >= p_day - p.w and m.day < p_day
    group by cb.segment_id, cb.channel, m.day
  ),
  points as (
    -- A segment's budget-limited days with spend: x = ln spend less the segment's mean ln
    -- spend (centred: the slope's Newton steps below need no intercept), y = the day's
    -- conversions, k = its clicks, with the segment's Σ x y, Σ y, days and range of x on
    -- every row.
    select c.segment_id, c.channel, c.day, c.x, c.y, c.k,
           sum(c.x * c.y) over s as xy, sum(c.y) over s as total, count(*) over s as n,
           max(c.x) over s - min(c.x) over s as x_range
    from (select d.segment_id, d.channel, d.day, d.conversions::float8 as y, d.clicks::float8 as k,
                 ln(d.spend::float8)
                   - avg(ln(d.spend::float8)) over (partition by d.segment_id, d.channel) as x
          from daily d cross join params p
          where d.spend > 0 and coalesce(d.lost, 0) >= p.sat) c
    window s as (partition by c.segment_id, c.channel)
  ),
  fit (segment_id, channel, x, y, xy, total, n, step, e) as (
    -- The segment's elasticity by maximum likelihood: conversions ~ Poisson(a x spend ^ e),
    -- the efficient estimator for counts (no log of small counts; every day at its own
    -- spend). Profiled in e (a solved for), Newton from the prior, each step at most 1 and e
    -- within -3 .. 3: e += (Σ x y - Y m1) / (Y (m2 - m1²)), m1 and m2 the means of x and x²
    -- weighted by e^(e x), Y = Σ y. Three steps: the log-likelihood is nearly quadratic in e,
    -- and an informative segment is within 0.0001 of the maximum after two; a segment still
    -- moving after three (toward ±3) is one whose data say almost nothing, and its variance
    -- says so. Every row of a segment carries the same e; the sums are window sums (a
    -- recursive step may not group).
    select pt.segment_id, pt.channel, pt.x, pt.y, pt.xy, pt.total, pt.n, 0, p.e0::float8
    from points pt cross join params p
    where pt.total > 0 and pt.x_range > 0.01
    union all
    select f.segment_id, f.channel, f.x, f.y, f.xy, f.total, f.n, f.step + 1,
           least(greatest(f.e + coalesce(greatest(least(
             (f.xy - f.total * sum(f.x * exp(f.e * f.x)) over s / sum(exp(f.e * f.x)) over s)
             / nullif(f.total * (sum(f.x ^ 2 * exp(f.e * f.x)) over s / sum(exp(f.e * f.x)) over s
                                 - (sum(f.x * exp(f.e * f.x)) over s
                                    / sum(exp(f.e * f.x)) over s) ^ 2), 0),
             1), -1), 0), -3), 3)
    from fit f
    where f.step < 3
    window s as (partition by f.segment_id, f.channel)
  ),
  information as (
    -- The Fisher information about e at the estimate: Y (m2 - m1²).
    select f.segment_id, f.channel, f.n, f.total, f.e,
           f.total * (sum(f.x ^ 2 * exp(f.e * f.x)) / sum(exp(f.e * f.x))
                      - (sum(f.x * exp(f.e * f.x)) / sum(exp(f.e * f.x))) ^ 2) as information
    from fit f
    where f.step = 3
    group by f.segment_id, f.channel, f.n, f.total, f.e
  ),
  by_conversions as (
    -- var(e): the inverse information, times 1 + the mean day's conversions x
    -- demand_variance (day-to-day demand on top of the Poisson count).
    select i.segment_id, i.channel, i.n, i.e as slope,
           (1 + i.total / i.n * p.dv) / i.information as var
    from information i cross join params p
    where i.information > 0
  ),
  click_days as (
    -- A segment's budget-limited days with clicks, each with its kind of day (ISO weekday, 0
    -- on a public holiday) and x, x² and ln k less their means over the segment's days of that
    -- kind, weighted by the clicks: demand moves with the kind of day, and so does the
    -- budget (the controller buys more on a busy day), so a slope across kinds of day would
    -- read demand as response; within them it does not.
    select c.*,
           c.x - sum(c.k * c.x) over kd / sum(c.k) over kd as x1,
           c.x ^ 2 - sum(c.k * c.x ^ 2) over kd / sum(c.k) over kd as x2,
           c.ly - sum(c.k * c.ly) over kd / sum(c.k) over kd as y1
    from (select pt.segment_id, pt.channel, pt.day, pt.x, pt.k, ln(pt.k) as ly,
                 case when h.day is not null then 0 else extract(isodow from pt.day)::integer end as kind
          from points pt
          left join public.public_holidays h on h.day = pt.day
          where pt.k > 0 and pt.x_range > 0.01) c
    window kd as (partition by c.segment_id, c.channel, c.kind)
  ),
  click_sums as materialized (
    -- The clicks' curve: ln clicks on x (and x²) by least squares weighted by the clicks (a
    -- count's ln varies like 1 / the count). Sums over the days of w = k times 1, x, x², ln k,
    -- x ln k and (ln k)² (the straight line across every day: the clicks' slope as the
    -- conversions' is read, confounded alike, for the conversion rate's slope); the same
    -- within the kinds of day, of x1², x1 x2, x2², x1 y1, x2 y1 and y1² (the curve); the days,
    -- their kinds, and x_now, the mean x of the last 7 days: where the segment spends now.
    -- Materialized: the planner guesses one row for `points` and, inlined, summed them again
    -- for every segment (178 times, 490 ms of 620 a call; bench/RESULTS.md, "Issue 24,
    -- round 10").
    select c.segment_id, c.channel, count(*) as n, count(distinct c.kind) as kinds,
           sum(c.k) as w0, sum(c.k * c.x) as w1, sum(c.k * c.x ^ 2) as w2, sum(c.k * c.ly) as wy,
           sum(c.k * c.x * c.ly) as w1y, sum(c.k * c.ly ^ 2) as wyy,
           sum(c.k * c.x1 ^ 2) as t11, sum(c.k * c.x1 * c.x2) as t12, sum(c.k * c.x2 ^ 2) as t22,
           sum(c.k * c.x1 * c.y1) as t1y, sum(c.k * c.x2 * c.y1) as t2y, sum(c.k * c.y1 ^ 2) as tyy,
           coalesce(avg(c.x) filter (where c.day >= p_day - 7), 0) as x_now
    from click_days c
    group by c.segment_id, c.channel
  ),
  click_bends as (
    -- The straight line across every day: ek = S1y / S11 (S the centred sums), var(ek) =
    -- σ² / S11. The curve within the kinds of day: ln k = b1 x + b2 x² (+ one level per kind);
    -- the local slope where the segment spends now is b1 + 2 b2 x_now, its variance
    -- σ² v' T⁻¹ v (v = (1, 2 x_now), T the within sums). σ² is the weighted residual variance,
    -- at least a Poisson count's 1. Only a bend down (b2 < 0): the elasticity does not rise
    -- with the spend (every shape of a saturating market, an S-curve's too, bends down in
    -- ln-ln), and a bend up fitted to noise would feed itself: a lower slope below the mean
    -- cuts the budget further. Where the fit bends up, or x and x² cannot be told apart (two
    -- spend levels, or too few days), the straight line within the kinds of day: T1y / T11.
    select m.segment_id, m.channel, m.n, m.line,
           greatest((m.syy - m.s1y ^ 2 / m.s11) / greatest(m.n - 2, 1), 1) / m.s11 as line_var,
           case when b.curved then b.b1 + 2 * b.b2 * m.x_now else m.t1y / m.t11 end as slope,
           case when b.curved
                then greatest((m.tyy - b.b1 * m.t1y - b.b2 * m.t2y) / greatest(m.n - m.kinds - 2, 1), 1)
                     * (m.t22 - 4 * m.x_now * m.t12 + 4 * m.x_now ^ 2 * m.t11) / b.det
                else greatest((m.tyy - m.t1y ^ 2 / m.t11) / greatest(m.n - m.kinds - 1, 1), 1) / m.t11
           end as var
    from (select c.*, c.w2 - c.w1 ^ 2 / c.w0 as s11, c.w1y - c.w1 * c.wy / c.w0 as s1y,
                 c.wyy - c.wy ^ 2 / c.w0 as syy,
                 (c.w1y - c.w1 * c.wy / c.w0) / nullif(c.w2 - c.w1 ^ 2 / c.w0, 0) as line
          from click_sums c) m
    cross join lateral (
      select m.t11 * m.t22 - m.t12 ^ 2 as det,
             m.n > m.kinds + 6 and m.t22 > 1e-6 * m.w0 and m.t11 * m.t22 - m.t12 ^ 2 > 1e-3 * m.t11 * m.t22
               and m.t11 * m.t2y - m.t12 * m.t1y < 0 as curved,
             (m.t22 * m.t1y - m.t12 * m.t2y) / nullif(m.t11 * m.t22 - m.t12 ^ 2, 0) as b1,
             (m.t11 * m.t2y - m.t12 * m.t1y) / nullif(m.t11 * m.t22 - m.t12 ^ 2, 0) as b2
    ) b
    -- x must vary within the kinds of day (a weighted variance above 10⁻⁶, not rounding):
    -- a budget that only follows the weekday says nothing there, and the conversions decide.
    where m.s11 > 1e-6 * m.w0 and m.t11 > 1e-6 * m.w0 and m.n > m.kinds + 1
  ),
  by_clicks as (
    -- ek, the clicks' straight line across every day, beside the local slope.
    select cb.segment_id, cb.channel, cb.n, cb.line as slope, cb.line_var as var, cb.slope as local,
           cb.var as local_var
    from click_bends cb
  ),
  rate_slopes as (
    -- How the conversion rate moves with spend, per segment with both: e - ek, the
    -- conversions' slope less the clicks' (both over the window).
    select c.segment_id, c.channel, v.slope - c.slope as d, v.var + c.var as var
    from by_clicks c
    join by_conversions v on v.segment_id = c.segment_id and v.channel = c.channel
  ),
  rate_spread as (
    -- τ_r, the spread of that slope between the channel's segments (DerSimonian-Laird, as τ
    -- below), at least conversion_rate_spread, at most elasticity_spread_max; and its mean
    -- over them, weighted by 1 / (var + τ_r²), with that mean's variance.
    select c.channel, t.tau,
           coalesce(sum(r.d / (r.var + t.tau ^ 2)) / sum(1 / (r.var + t.tau ^ 2)), 0) as mean,
           coalesce(1 / sum(1 / (r.var + t.tau ^ 2)), t.tau ^ 2) as mean_var
    from (select distinct b.channel from by_clicks b) c
    cross join lateral (
      select least(greatest(coalesce(sqrt(greatest(
               (sum(r2.d ^ 2 / r2.var) - sum(r2.d / r2.var) ^ 2 / sum(1 / r2.var) - (count(*) - 1))
               / nullif(sum(1 / r2.var) - sum(1 / r2.var ^ 2) / sum(1 / r2.var), 0), 0)), 0),
             p.tau_cr_min), p.tau_max)::float8 as tau
      from params p left join rate_slopes r2 on r2.channel = c.channel
      group by p.tau_cr_min, p.tau_max
    ) t
    left join rate_slopes r on r.channel = c.channel
    group by c.channel, t.tau
  ),
  own as (
    -- A segment's own elasticity. With clicks: the clicks' local slope where it spends now (tens
    -- of clicks a day say far more about the curve than a few conversions) plus the conversion
    -- rate's slope, its own (e - ek) shrunk toward the channel's mean by
    -- w = τ_r² / (τ_r² + its variance):
    --   own e = local + w (e - ek) + (1 - w) mean
    --   var   = (1 - w)² var(local) + w² var(e) + (1 - w)² (τ_r² + var(mean))
    -- Where the segments' conversion rates do not move with spend the own e is the clicks'
    -- slope; where a segment's data say its rate moves, it moves it. Without clicks: e.
    select coalesce(c.segment_id, v.segment_id) as segment_id, coalesce(c.channel, v.channel) as channel,
           coalesce(c.n, v.n) as n,
           case when c.slope is null then v.slope
                else c.local + w.w * coalesce(v.slope - c.slope, 0) + (1 - w.w) * rs.mean end as slope,
           case when c.slope is null then v.var
                else (1 - w.w) ^ 2 * c.local_var + w.w ^ 2 * coalesce(v.var, 0)
                     + (1 - w.w) ^ 2 * (rs.tau ^ 2 + rs.mean_var) end as var
    from by_clicks c
    full join by_conversions v on v.segment_id = c.segment_id and v.channel = c.channel
    left join rate_spread rs on rs.channel = c.channel
    cross join lateral (
      select case when v.var is null or c.slope is null then 0::float8
                  else rs.tau ^ 2 / (rs.tau ^ 2 + v.var + c.var) end as w
    ) w
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
