-- =============================================================================
-- BEGIN issue #11: economics, the account cap and the learned response.
-- Every object below is new (nothing earlier is redefined except the one
-- orchestration_inputs further down); they live in this one block so that a
-- regrouping of the migrations can move them as one.
--
--   orchestration_settings   + account_daily_cap, min_margin and the controller's
--                              parameters (prior elasticity, its spread, windows):
--                              their one home, read by SQL and (through
--                              orchestration_inputs) by Python
--   orchestration_settings_history   append-only audit of every settings change
--   industry_economics       an industry's own minimum margin (overrides the setting)
--   segment_response_estimates  per segment and day: value of an accepted lead,
--                              elasticity with its uncertainty, scale
--   estimate_segment_responses(day)  computes them, set-based, from compact daily
--                              summaries (Google Ads metrics, stats)
--   report_economics(from, to)  value, margin, curve per segment and cap use per day,
--                              for the operator report
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

alter table public.orchestration_settings
  add column account_daily_cap numeric(14, 2) check (account_daily_cap is null or account_daily_cap > 0),
  add column min_margin numeric(4, 3) not null default 0.100 check (min_margin >= 0 and min_margin < 1),
  add column prior_elasticity numeric(4, 3) not null default 0.550
    check (prior_elasticity > 0 and prior_elasticity <= 1),
  add column elasticity_spread numeric(4, 3) not null default 0.150 check (elasticity_spread > 0),
  add column response_window_days integer not null default 56
    check (response_window_days between 7 and 365),
  add column value_window_days integer not null default 56 check (value_window_days between 7 and 365),
  add column saturation_lost_share numeric(4, 3) not null default 0.020
    check (saturation_lost_share >= 0 and saturation_lost_share < 1);

comment on column public.orchestration_settings.account_daily_cap is
  'Optional account-wide daily cap (euro): the day''s budgets never sum to more. Null: no cap.';
comment on column public.orchestration_settings.min_margin is
  'Minimum margin on an accepted lead: never raise a budget when the estimated marginal cost per accepted '
  'lead exceeds value x (1 - min_margin). industry_economics overrides it per industry.';
comment on column public.orchestration_settings.prior_elasticity is
  'Elasticity (paid leads grow like spend ^ e) a segment is pooled toward when its own data say little.';
comment on column public.orchestration_settings.elasticity_spread is
  'Standard deviation of elasticities between segments (the prior''s, and the pooling''s, spread).';
comment on column public.orchestration_settings.response_window_days is
  'Days of Google Ads history an elasticity is estimated from.';
comment on column public.orchestration_settings.value_window_days is
  'Days of accepted leads the value of an accepted lead is averaged over.';
comment on column public.orchestration_settings.saturation_lost_share is
  'Impressions lost to budget below this share: the budget is not what limits volume (the controller '
  'holds under target, the estimator skips the day).';

-- Admins change these in the SQL editor (like the kill switch): no API role is granted the
-- table, so pg_graphql shows it to no one (lint pg_graphql_admin_table_exposed).

-- Audit: every change of the settings, who made it and what it was before and after.
create table public.orchestration_settings_history (
  id bigint generated always as identity primary key,
  changed_at timestamptz not null default now(),
  changed_by uuid,
  old_settings jsonb not null,
  new_settings jsonb not null
);
comment on table public.orchestration_settings_history is
  'Append-only audit of orchestration_settings: every change (kill switch, daily limit, cap, margins, '
  'controller parameters) with who made it. Admin-only.';
alter table public.orchestration_settings_history enable row level security;
revoke all on table public.orchestration_settings_history from anon, authenticated, service_role;
grant select on table public.orchestration_settings_history to service_role;
create policy "Admins can read the settings history"
  on public.orchestration_settings_history for select to authenticated
  using ((select private.is_admin()));

create or replace function private.audit_settings_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.orchestration_settings_history (changed_by, old_settings, new_settings)
  values (new.updated_by, to_jsonb(old) - 'updated_at' - 'updated_by',
          to_jsonb(new) - 'updated_at' - 'updated_by');
  return new;
end
$$;
revoke execute on function private.audit_settings_change() from public, anon, authenticated;
create trigger orchestration_settings_audit
  after update on public.orchestration_settings
  for each row execute function private.audit_settings_change();

-- An industry's own minimum margin.
create table public.industry_economics (
  industry_id uuid primary key references public.industries (id) on delete cascade,
  min_margin numeric(4, 3) not null check (min_margin >= 0 and min_margin < 1),
  updated_at timestamptz not null default now()
);
comment on table public.industry_economics is
  'Per industry: the minimum margin on an accepted lead (overrides orchestration_settings.min_margin). Admin-only.';
alter table public.industry_economics enable row level security;
revoke all on table public.industry_economics from anon, authenticated, service_role;
grant select on table public.industry_economics to service_role;
create policy "Admins can read industry economics"
  on public.industry_economics for select to authenticated using ((select private.is_admin()));
create policy "Admins can add industry economics"
  on public.industry_economics for insert to authenticated with check ((select private.is_admin()));
create policy "Admins can change industry economics"
  on public.industry_economics for update to authenticated
  using ((select private.is_admin())) with check ((select private.is_admin()));
create policy "Admins can remove industry economics"
  on public.industry_economics for delete to authenticated using ((select private.is_admin()));

-- Each segment's estimated response and economics, per day they were computed for.
create table public.segment_response_estimates (
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  day date not null,
  lead_value numeric(12, 2),
  lead_value_source text not null check (lead_value_source in ('segment', 'industry', 'all', 'none')),
  elasticity numeric(6, 4) not null check (elasticity > 0 and elasticity <= 1),
  elasticity_sd numeric(6, 4) not null check (elasticity_sd >= 0),
  own_elasticity numeric(8, 4),
  own_elasticity_sd numeric(10, 4),
  pooled_elasticity numeric(6, 4) not null,
  scale numeric(14, 6),
  days_used integer not null default 0,
  computed_at timestamptz not null default now(),
  primary key (segment_id, day)
);
create index segment_response_estimates_day_idx on public.segment_response_estimates (day);
comment on table public.segment_response_estimates is
  'Per segment and day: value of an accepted lead and the spend -> paid leads curve '
  '(paid leads/day = scale x spend ^ elasticity, spend in euro/day), elasticity with its standard '
  'deviation, pooled toward the industry''s and province''s when the segment''s own data say little. '
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
  with params as (
    select o.prior_elasticity as e0, o.elasticity_spread as tau,
           o.response_window_days as w, o.value_window_days as vw, o.saturation_lost_share as sat
    from public.orchestration_settings o
  ),
  segments as (
    select s.id as segment_id, s.industry_id, s.region_code
    from public.lead_segments s where s.is_active
  ),
  daily as (
    -- Per segment and click day: spend (euro) and Google Ads conversions (on the click's
    -- day), on days the budget limited (impressions lost to budget): there, spend is what
    -- the budget let through, not what demand asked for.
    select cb.segment_id, m.day,
           sum(m.cost_micros) / 1e6 as spend, sum(m.conversions) as conversions,
           max(m.search_budget_lost_impression_share) as lost
    from public.segment_campaign_budgets cb
    join public.ad_campaign_daily_metrics m
      on m.customer_id = cb.customer_id and m.campaign_id = cb.campaign_id
    cross join params p
    where cb.is_active and m.day >= p_day - p.w and m.day < p_day
    group by cb.segment_id, m.day
  ),
  halves as (
    -- The segment's budget-limited days split at the median spend; the elasticity is the
    -- ratio of log means between the halves (a grouping estimator: no log of small counts,
    -- which biases a least-squares slope on 1-3 leads a day toward 0).
    select h.segment_id, h.half, count(*) as n, avg(h.spend) as spend,
           avg(h.conversions) as conversions, sum(h.conversions) as total
    from (select d.*, ntile(2) over (partition by d.segment_id order by d.spend) as half
          from daily d cross join params p
          where d.spend > 0 and coalesce(d.lost, 0) >= p.sat) h
    group by h.segment_id, h.half
  ),
  own as (
    -- var(ln mean) of a half: Poisson (1 / its leads) plus day-to-day demand (0.03 / days).
    select lo.segment_id, lo.n + hi.n as n,
           ln(hi.conversions / lo.conversions) / ln(hi.spend / lo.spend) as slope,
           (1 / hi.total + 0.03 / hi.n + 1 / lo.total + 0.03 / lo.n) / ln(hi.spend / lo.spend) ^ 2 as var
    from halves lo
    join halves hi on hi.segment_id = lo.segment_id and hi.half = 2
    where lo.half = 1 and lo.total > 0 and hi.total > 0 and hi.spend > lo.spend * 1.01
  ),
  with_own as (
    select s.*, o.n, o.slope, o.var
    from segments s left join own o on o.segment_id = s.segment_id
  ),
  industry_pool as (
    -- Precision-weighted mean of the industry's segments and the prior.
    select w.industry_id,
           (p.e0 / p.tau ^ 2 + coalesce(sum(w.slope / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / p.tau ^ 2 + coalesce(sum(1 / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w cross join params p
    group by w.industry_id, p.e0, p.tau
  ),
  province_pool as (
    select w.region_code,
           (p.e0 / p.tau ^ 2 + coalesce(sum(w.slope / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / p.tau ^ 2 + coalesce(sum(1 / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w cross join params p
    group by w.region_code, p.e0, p.tau
  ),
  posterior as (
    select w.segment_id, w.industry_id, w.n, w.slope, w.var,
           (ip.e + pp.e) / 2 as pooled,
           case when w.var is null then (ip.e + pp.e) / 2
                else (w.slope / w.var + (ip.e + pp.e) / 2 / p.tau ^ 2) / (1 / w.var + 1 / p.tau ^ 2)
           end as e,
           case when w.var is null then p.tau
                else sqrt(1 / (1 / w.var + 1 / p.tau ^ 2)) end as sd
    from with_own w
    cross join params p
    join industry_pool ip on ip.industry_id = w.industry_id
    join province_pool pp on pp.region_code = w.region_code
  ),
  scaled as (
    -- Scale at the estimated elasticity over the last two weeks (recent: costs drift).
    select po.segment_id,
           sum(d.conversions) / nullif(sum(power(d.spend::numeric, least(greatest(po.e, 0.15), 0.95)::numeric)), 0) as scale
    from posterior po
    join daily d on d.segment_id = po.segment_id and d.day >= p_day - 14 and d.spend > 0
    group by po.segment_id
  ),
  value_window as (
    select st.segment_id, sum(st.revenue) as revenue, sum(st.leads_accepted) as accepted
    from public.lead_generation_stats st cross join params p
    where st.day >= p_day - p.vw and st.day < p_day
    group by st.segment_id
  ),
  value_of as (
    -- The segment's mean price of an accepted lead; with fewer than 3 accepted leads its
    -- industry's, then every segment's; none: no value known (no economics rule).
    select s.segment_id,
           case when v.accepted >= 3 then v.revenue / v.accepted
                when iv.accepted >= 3 then iv.revenue / iv.accepted
                when av.accepted >= 3 then av.revenue / av.accepted end as value,
           case when v.accepted >= 3 then 'segment' when iv.accepted >= 3 then 'industry'
                when av.accepted >= 3 then 'all' else 'none' end as source
    from segments s
    left join value_window v on v.segment_id = s.segment_id
    left join (select s2.industry_id, sum(v2.revenue) as revenue, sum(v2.accepted) as accepted
               from value_window v2 join segments s2 on s2.segment_id = v2.segment_id
               group by s2.industry_id) iv on iv.industry_id = s.industry_id
    cross join (select sum(v3.revenue) as revenue, sum(v3.accepted) as accepted from value_window v3) av
  ),
  written as (
    insert into public.segment_response_estimates as r
      (segment_id, day, lead_value, lead_value_source, elasticity, elasticity_sd, own_elasticity,
       own_elasticity_sd, pooled_elasticity, scale, days_used, computed_at)
    select po.segment_id, p_day, round(vo.value::numeric, 2), vo.source,
           round(least(greatest(po.e, 0.15), 0.95)::numeric, 4), round(po.sd::numeric, 4),
           case when po.slope is not null then round(least(greatest(po.slope, -999), 999)::numeric, 4) end,
           case when po.var is not null then round(least(sqrt(po.var), 999999)::numeric, 4) end,
           round(least(greatest(po.pooled, 0.15), 0.95)::numeric, 4),
           round(least(sc.scale, 99999999)::numeric, 6), coalesce(po.n, 0)::integer, now()
    from posterior po
    join value_of vo on vo.segment_id = po.segment_id
    left join scaled sc on sc.segment_id = po.segment_id
    on conflict (segment_id, day) do update set
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
  'Estimate every active segment''s value of an accepted lead and spend -> paid leads curve for a day '
  '(from the days before it) into segment_response_estimates; returns how many. See docs/FORMULAS.md.';
revoke execute on function public.estimate_segment_responses(date) from public, anon, authenticated;
grant execute on function public.estimate_segment_responses(date) to service_role;

-- What the operator report shows of the economics: per segment its value, margin and
-- curve, and the account cap's use per day (the sum of the day's planned budgets).
create or replace function public.report_economics(p_from date, p_to date)
returns jsonb
language sql stable
set search_path = ''
as $$
  with settings as (select o.account_daily_cap as cap, o.min_margin from public.orchestration_settings o),
  newest as (
    select distinct on (r.segment_id) r.*
    from public.segment_response_estimates r
    where r.day <= p_to
    order by r.segment_id, r.day desc
  ),
  money as (
    select st.segment_id, sum(st.revenue) as revenue, sum(st.ad_spend) as spend,
           sum(st.leads_accepted) as accepted
    from public.lead_generation_stats st
    where st.day between p_from and p_to
    group by st.segment_id
  ),
  segs as (
    select s.code, n.day as estimated_on, n.lead_value, n.lead_value_source, n.elasticity,
           n.elasticity_sd, n.scale, n.days_used,
           coalesce(ie.min_margin, se.min_margin) as min_margin,
           coalesce(m.revenue, 0) as revenue, coalesce(m.spend, 0) as spend,
           coalesce(m.revenue, 0) - coalesce(m.spend, 0) as margin
    from public.lead_segments s
    cross join settings se
    left join newest n on n.segment_id = s.id
    left join money m on m.segment_id = s.id
    left join public.industry_economics ie on ie.industry_id = s.industry_id
    where s.is_active
  ),
  days as (
    select p.day, sum(p.planned_budget_google_ads) as budgets
    from public.lead_segment_plans p
    where p.day between p_from and p_to and p.planned_budget_google_ads is not null
    group by p.day
  )
  select jsonb_build_object(
    'account_daily_cap', (select cap from settings),
    'max_cap_use', (select max(d.budgets) / nullif(max(se.cap), 0) from days d cross join settings se),
    'days', coalesce((select jsonb_agg(jsonb_build_object('day', d.day, 'budgets', d.budgets,
                        'cap_use', d.budgets / nullif(se.cap, 0)) order by d.day)
                      from days d cross join settings se), '[]'),
    'segments', coalesce((select jsonb_agg(to_jsonb(x) order by x.margin desc) from segs x), '[]'))
$$;
comment on function public.report_economics(date, date) is
  'The report''s economics for Dutch days from..to: per active segment its value of an accepted lead, '
  'minimum margin, newest estimated curve (paid leads/day = scale x spend ^ elasticity, with sd), revenue, '
  'spend and margin; the account cap and each day''s sum of planned budgets as a share of it.';
revoke execute on function public.report_economics(date, date) from public, anon, authenticated;
grant execute on function public.report_economics(date, date) to service_role;

-- =============================================================================
-- END issue #11 block.
-- =============================================================================

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
-- is as in 20261125000650_orchestrate.sql. Found with `leadflow simulate`
-- (bench/RESULTS.md, "Controller simulation").
--
-- Issue #11 adds, per budget: the value of an accepted lead, the acceptance rate of
-- the day's plan, the minimum margin (industry's, else the setting), the segment's
-- elasticity and its standard deviation, and the account's daily cap.
-- =============================================================================

drop function if exists public.orchestration_inputs(date, integer);
create function public.orchestration_inputs(p_day date, p_window_days integer default 7)
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
  lost_impression_share_budget numeric,
  lead_value_micros bigint,
  acceptance_rate numeric,
  min_margin numeric,
  lead_elasticity numeric,
  lead_elasticity_sd numeric,
  account_daily_cap_micros bigint,
  saturation_lost_share numeric
)
language sql stable
set search_path = ''
as $$
  with settings as (
    select o.account_daily_cap, o.min_margin, o.prior_elasticity, o.elasticity_spread,
           o.saturation_lost_share
    from public.orchestration_settings o
  ),
  response as (
    -- The newest estimate up to the day (estimate_segment_responses, run by orchestrate).
    select distinct on (r.segment_id) r.segment_id, r.lead_value, r.elasticity, r.elasticity_sd
    from public.segment_response_estimates r
    where r.day <= p_day and r.day > p_day - 7
    order by r.segment_id, r.day desc
  ),
  budgets as (
    select s.id as segment_id, s.code, s.min_daily_budget, s.max_daily_budget, s.target_cpl,
           s.industry_id,
           cb.customer_id, cb.campaign_id, cb.budget_resource_name,
           count(*) over (partition by s.id) as n
    from public.lead_segments s
    join public.segment_campaign_budgets cb on cb.segment_id = s.id and cb.is_active
    where s.is_active
  ),
  targets as (
    -- Trailing week of targets ending today: each weekday once.
    select p.segment_id, avg(p.target_leads) as target,
           bool_or(p.day = p_day) as has_today,
           max(p.acceptance_rate) filter (where p.day = p_day) as acceptance_rate
    from public.lead_segment_plans p
    where p.day > p_day - p_window_days and p.day <= p_day
    group by p.segment_id
  ),
  week_spend as (
    -- Trailing week of measured days before today: the spend the CPL is measured at.
    select st.segment_id, avg(st.ad_spend) as spend
    from public.lead_generation_stats st
    where st.day >= p_day - p_window_days and st.day < p_day
    group by st.segment_id
  ),
  actuals as (
    -- Paid leads per day at the week's spend: two weeks of days, each day's paid leads
    -- scaled to that spend along the segment's curve (half the noise of one week, and a
    -- budget change counts at once). A day without spend counts as it was.
    select st.segment_id,
           avg(st.leads_google_ads * case
                 when st.ad_spend > 0 and ws.spend > 0
                 then power(ws.spend / st.ad_spend, coalesce(r.elasticity, se.prior_elasticity))
                 else 1 end) as paid,
           ws.spend
    from public.lead_generation_stats st
    cross join settings se
    join week_spend ws on ws.segment_id = st.segment_id
    left join response r on r.segment_id = st.segment_id
    where st.day >= p_day - 2 * p_window_days and st.day < p_day
    group by st.segment_id, ws.spend
  ),
  yesterday as (
    select st.segment_id, st.ad_spend as spend
    from public.lead_generation_stats st
    where st.day = p_day - 1
  ),
  at_current_spend as (
    -- The trailing week's leads, each day's paid leads scaled to yesterday's spend: paid
    -- leads grow like spend ^ e (the segment's estimated elasticity, else the prior).
    -- A day without spend to compare counts as it was.
    select st.segment_id,
           avg(st.leads_generated - st.leads_google_ads + st.leads_google_ads * case
                 when st.ad_spend > 0 and y.spend > 0
                 then power(y.spend / st.ad_spend, coalesce(r.elasticity, se.prior_elasticity))
                 else 1 end) as expected
    from public.lead_generation_stats st
    cross join settings se
    left join yesterday y on y.segment_id = st.segment_id
    left join response r on r.segment_id = st.segment_id
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
         m.search_budget_lost_impression_share,
         round(r.lead_value * 1000000)::bigint,
         t.acceptance_rate,
         coalesce(ie.min_margin, se.min_margin),
         coalesce(r.elasticity, se.prior_elasticity),
         coalesce(r.elasticity_sd, se.elasticity_spread),
         round(se.account_daily_cap * 1000000)::bigint,
         se.saturation_lost_share
  from budgets b
  cross join settings se
  left join response r on r.segment_id = b.segment_id
  left join public.industry_economics ie on ie.industry_id = b.industry_id
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
  'spend (each day''s paid leads x (spend yesterday / spend that day) ^ e, e the segment''s estimated '
  'elasticity), paid leads and spend (split evenly over a segment''s budgets), data age, lost impression '
  'share; value of an accepted lead, acceptance rate, minimum margin, elasticity and its standard '
  'deviation, and the account daily cap. See docs/FORMULAS.md.';
revoke execute on function public.orchestration_inputs(date, integer) from public, anon, authenticated;
grant execute on function public.orchestration_inputs(date, integer) to service_role;
