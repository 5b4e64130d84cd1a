-- =============================================================================
-- The operator report: `leadflow report` and the demo's closing table read
-- everything they show through `report_decisions`, `report_totals` and
-- `report_data`. Security invoker, for the service role only.
--
-- Tools only: installed by `leadflow_tools.migrations.install_tools` on the
-- local databases the tools build (demo, tests, simulations), never by a
-- migration, so a deployed database holds nothing the functions do not use.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Report: decisions of a day, totals of a range, everything for the HTML report
-- -----------------------------------------------------------------------------
-- Its columns grew a channel: a database that has the old shape gets the new one.
drop function if exists public.report_decisions(date, text);
create or replace function public.report_decisions(p_day date, p_segment_code text default null)
returns table (
  segment_id uuid,
  code text,
  industry text,
  region text,
  channel text,
  budget_resource_name text,
  capacity numeric,
  target_leads numeric,
  expected_leads numeric,
  expected_gap numeric,
  action text,
  old_budget numeric,
  new_budget numeric,
  change_pct numeric,
  mode text,
  status text,
  reason text,
  error text
)
language sql stable
set search_path = ''
as $$
  with decided as (
    -- The last adjustment decision of the day per budget.
    select distinct on (l.budget_resource_name) l.*
    from public.channel_orchestration_log l
    where l.day = p_day and l.kind = 'adjust'
    order by l.budget_resource_name, l.id desc
  )
  select s.id, s.code, i.name, r.name, coalesce(d.channel, inp.channel), d.budget_resource_name,
         -- The capacity the target is built from: its mean over the same trailing
         -- steering window as the target's (orchestration_inputs), not the day's own,
         -- which is 0 on a Sunday or holiday while that target is not.
         round(w.capacity, 2),
         -- The target and expected leads the decision compared, as its log keeps them (a
         -- segment on two channels steers each to its share of the target, not to the even
         -- split orchestration_inputs gives); else, before inputs were logged, the inputs'.
         round(coalesce((d.inputs -> 'signal' ->> 'target_leads')::numeric, inp.target_leads), 2),
         round(coalesce((d.inputs -> 'signal' ->> 'expected_leads')::numeric, inp.expected_leads), 2),
         d.expected_gap, d.action,
         round(d.old_amount_micros / 1000000.0, 2), round(d.new_amount_micros / 1000000.0, 2),
         d.change_pct, d.mode, d.status, d.reason, d.error
  from public.lead_segments s
  join public.industries i on i.id = s.industry_id
  join public.regions r on r.code = s.region_code
  join decided d on d.segment_id = s.id
  left join lateral (
    select avg(p.capacity) as capacity
    from public.lead_segment_plans p
    cross join public.orchestration_settings se
    where p.segment_id = s.id and p.day > p_day - se.steering_window_days and p.day <= p_day
  ) w on true
  left join public.orchestration_inputs(p_day) inp on inp.budget_resource_name = d.budget_resource_name
  where p_segment_code is null or s.code = p_segment_code
  order by abs(coalesce(d.expected_gap, 0)) desc, s.code, d.budget_resource_name
$$;
comment on function public.report_decisions(date, text) is
  'The budget decisions of a Dutch day (the last adjustment per budget, with its channel) with what '
  'they answered: the capacity (mean over the trailing steering window, as the target), the target '
  'and the expected leads/day the controller compared, the expected gap '
  '(target - expected), budget before and after (euro), mode, status and reason. Largest gap first.';
revoke execute on function public.report_decisions(date, text) from public, anon, authenticated;
grant execute on function public.report_decisions(date, text) to service_role;

create or replace function public.report_channels(p_from date, p_to date, p_segment_code text default null)
returns table (
  channel text,
  label text,
  is_paid boolean,
  leads integer,
  accepted integer,
  spend numeric,
  cpl numeric,
  cost_per_accepted numeric
)
language sql stable
set search_path = ''
as $$
  select c.key, c.label, c.is_paid,
         coalesce(sum(cs.leads_generated), 0)::integer,
         coalesce(sum(cs.leads_accepted), 0)::integer,
         coalesce(sum(cs.spend), 0),
         round(sum(cs.spend) / nullif(sum(cs.leads_generated), 0), 2),
         round(sum(cs.spend) / nullif(sum(cs.leads_accepted), 0), 2)
  from public.ad_channels c
  join public.lead_channel_stats cs on cs.channel = c.key and cs.day between p_from and p_to
  join public.lead_segments s on s.id = cs.segment_id
  where p_segment_code is null or s.code = p_segment_code
  group by c.key, c.label, c.is_paid, c.sort_order
  order by c.sort_order, c.key
$$;
comment on function public.report_channels(date, date, text) is
  'Per channel over Dutch days from..to (all segments or one): leads, accepted leads, spend, cost per '
  'lead and per accepted lead. Channels without leads or spend are left out.';
revoke execute on function public.report_channels(date, date, text) from public, anon, authenticated;
grant execute on function public.report_channels(date, date, text) to service_role;

-- Its Google Ads leads became the paid channels' (paid_leads): a database that has the old
-- shape gets the new one.
drop function if exists public.report_totals(date, date, text);
create or replace function public.report_totals(p_from date, p_to date, p_segment_code text default null)
returns table (
  days integer,
  segments integer,
  leads integer,
  accepted integer,
  rejected integer,
  pending integer,
  paid_leads integer,
  capacity numeric,
  fill_rate numeric,
  segments_on_target integer,
  ad_spend numeric,
  cpl numeric,
  cost_per_accepted numeric,
  revenue numeric
)
language sql stable
set search_path = ''
as $$
  with per_segment as (
    select st.segment_id,
           sum(st.leads_generated) as leads, sum(st.leads_accepted) as accepted,
           sum(st.leads_rejected) as rejected, sum(st.leads_pending) as pending,
           sum(st.leads_paid) as paid, sum(st.total_capacity) as capacity,
           sum(st.ad_spend) as spend, sum(st.revenue) as revenue
    from public.lead_generation_stats st
    join public.lead_segments s on s.id = st.segment_id
    where st.day between p_from and p_to
      and (p_segment_code is null or s.code = p_segment_code)
    group by st.segment_id
  )
  select (p_to - p_from + 1)::integer,
         count(*)::integer,
         coalesce(sum(leads), 0)::integer,
         coalesce(sum(accepted), 0)::integer,
         coalesce(sum(rejected), 0)::integer,
         coalesce(sum(pending), 0)::integer,
         coalesce(sum(paid), 0)::integer,
         coalesce(sum(capacity), 0),
         round(sum(accepted) / nullif(sum(capacity), 0), 4),
         (count(*) filter (where capacity > 0 and accepted between 0.9 * capacity and 1.1 * capacity))::integer,
         coalesce(sum(spend), 0),
         round(sum(spend) / nullif(sum(paid), 0), 2),
         round(sum(spend) / nullif(sum(accepted), 0), 2),
         coalesce(sum(revenue), 0)
  from per_segment
$$;
comment on function public.report_totals(date, date, text) is
  'Totals over Dutch days from..to (all segments or one): leads by outcome, capacity, fill rate '
  '(accepted / capacity), segments filled within 10 % of their capacity, ad spend, CPL (spend / '
  'paid leads), cost per accepted lead, revenue; per channel in report_channels.';
revoke execute on function public.report_totals(date, date, text) from public, anon, authenticated;
grant execute on function public.report_totals(date, date, text) to service_role;

create or replace function public.report_data(
  p_from date default null,
  p_to date default null,
  p_segment_code text default null
)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  latest date;
  result jsonb;
begin
  -- Default: the 30 days up to the latest planned day (today when there is none).
  p_to := coalesce(p_to, (select max(p.day) from public.lead_segment_plans p), private.today_nl());
  p_from := coalesce(p_from, p_to - 29);
  if p_from > p_to then
    raise exception 'report needs from <= to, got % .. %', p_from, p_to using errcode = '22023';
  end if;
  if p_to - p_from > 366 then
    raise exception 'report covers at most a year, got % days', p_to - p_from + 1 using errcode = '22023';
  end if;
  if p_segment_code is not null
     and not exists (select 1 from public.lead_segments s where s.code = p_segment_code) then
    raise exception 'unknown segment %', p_segment_code using errcode = '22023';
  end if;
  select max(l.day) into latest
  from public.channel_orchestration_log l
  where l.day between p_from and p_to and l.kind = 'adjust';

  with segs as (
    select s.id, s.code, s.name, i.slug as industry, i.name as industry_name,
           s.region_code as region, r.name as region_name
    from public.lead_segments s
    join public.industries i on i.id = s.industry_id
    join public.regions r on r.code = s.region_code
    where (p_segment_code is null or s.code = p_segment_code)
      and (s.is_active or exists (
             select 1 from public.lead_segment_plans p
             where p.segment_id = s.id and p.day between p_from and p_to))
  ),
  days as (
    select d::date as day from generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') as d
  ),
  budget_days as (
    -- The budget in effect each day: the last decision's new amount when it was applied
    -- live, else the amount it found (dry runs, holds, failures leave the budget as it was).
    select distinct on (l.segment_id, l.budget_resource_name, l.day)
           l.segment_id, l.budget_resource_name, l.day,
           case when l.mode = 'live' and l.status = 'success' then l.new_amount_micros
                else l.old_amount_micros end as micros
    from public.channel_orchestration_log l
    where l.day between p_from and p_to and l.segment_id in (select id from segs)
    order by l.segment_id, l.budget_resource_name, l.day, l.id desc
  ),
  budgets as (
    select segment_id, day, round(sum(micros) / 1000000.0, 2) as budget
    from budget_days group by segment_id, day
  ),
  daily as (
    select s.code, d.day,
           p.capacity, p.target_leads, st.leads_generated, st.leads_accepted,
           st.leads_paid, st.ad_spend, b.budget
    from segs s
    cross join days d
    left join public.lead_segment_plans p on p.segment_id = s.id and p.day = d.day
    left join public.lead_generation_stats st on st.segment_id = s.id and st.day = d.day
    left join budgets b on b.segment_id = s.id and b.day = d.day
  ),
  series as (
    -- One array per measure and segment, one element per day of `days` (null: no value).
    select code,
           jsonb_agg(capacity order by day) as capacity,
           jsonb_agg(target_leads order by day) as target,
           jsonb_agg(leads_generated order by day) as actual,
           jsonb_agg(leads_accepted order by day) as accepted,
           jsonb_agg(leads_paid order by day) as paid,
           jsonb_agg(ad_spend order by day) as spend,
           jsonb_agg(budget order by day) as budget
    from daily
    group by code
  ),
  changes as (
    select l.id, s.code, l.day, l.action,
           round(l.old_amount_micros / 1000000.0, 2) as old_budget,
           round(l.new_amount_micros / 1000000.0, 2) as new_budget,
           l.change_pct, l.expected_gap, l.mode, l.status, l.reason
    from public.channel_orchestration_log l
    join segs s on s.id = l.segment_id
    where l.day between p_from and p_to and l.action <> 'hold'
  ),
  fill as (
    select s.industry, s.industry_name, s.region, s.region_name, s.code,
           coalesce(sum(st.leads_accepted), 0) as accepted,
           coalesce(sum(st.total_capacity), 0) as capacity,
           round(sum(st.leads_accepted) / nullif(sum(st.total_capacity), 0), 4) as fill_rate
    from segs s
    left join public.lead_generation_stats st
      on st.segment_id = s.id and st.day between p_from and p_to
    group by s.industry, s.industry_name, s.region, s.region_name, s.code
  )
  select jsonb_build_object(
    'from', p_from,
    'to', p_to,
    'segment', p_segment_code,
    'latest_decision_day', latest,
    'totals', (select to_jsonb(t) from public.report_totals(p_from, p_to, p_segment_code) t),
    'segments', coalesce((select jsonb_agg(to_jsonb(s) - 'id' order by s.code) from segs s), '[]'),
    'days', (select jsonb_agg(d.day order by d.day) from days d),
    'series', coalesce((select jsonb_agg(to_jsonb(x) order by x.code) from series x), '[]'),
    'changes', coalesce((select jsonb_agg(to_jsonb(c) order by c.day, c.code, c.id) from changes c), '[]'),
    'fill', coalesce((select jsonb_agg(to_jsonb(f) order by f.industry, f.region) from fill f), '[]'),
    'decisions', coalesce((
        select jsonb_agg(to_jsonb(x) - 'segment_id')
        from public.report_decisions(latest, p_segment_code) x
        where latest is not null), '[]')
  ) into result;
  return result;
end
$$;
comment on function public.report_data(date, date, text) is
  'Everything the operator report shows for Dutch days from..to (default: the 30 days up to the '
  'latest plan; all segments or one), as JSON: '
  'totals; the days, and per segment one array per measure over them (capacity, target, actual, '
  'accepted and Google Ads leads, spend, budget in effect); every budget change with its reason; '
  'accepted / capacity per industry × '
  'province; and the decisions of the latest orchestrated day.';
revoke execute on function public.report_data(date, date, text) from public, anon, authenticated;
grant execute on function public.report_data(date, date, text) to service_role;

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
    select d.day, sum(d.planned_budget_micros) / 1000000.0 as budgets
    from public.lead_segment_days d
    where d.day between p_from and p_to and d.budgets > 0
    group by d.day
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

create or replace function public.report_channel_status(p_day date)
returns table (
  channel text,
  label text,
  kill_switch boolean,
  daily_cap numeric,
  budgets integer,
  decided integer,
  increase integer,
  decrease integer,
  hold integer,
  applied integer,
  refused integer,
  planned_budget numeric,
  expected_paid_leads numeric,
  yesterday_spend numeric,
  yesterday_leads integer
)
language sql stable
set search_path = ''
as $$
  with latest as (
    -- The latest adjustment of each budget on the day.
    select distinct on (l.budget_resource_name) l.*
    from public.channel_orchestration_log l
    where l.day = p_day and l.kind = 'adjust'
    order by l.budget_resource_name, l.id desc
  )
  select c.key, c.label, c.kill_switch, c.daily_cap,
         (select count(*) from public.segment_campaign_budgets b
           where b.channel = c.key and b.is_active)::integer,
         count(x.id)::integer,
         count(x.id) filter (where x.action = 'increase')::integer,
         count(x.id) filter (where x.action = 'decrease')::integer,
         count(x.id) filter (where x.action = 'hold')::integer,
         count(x.id) filter (where x.status = 'success' and x.action <> 'hold')::integer,
         count(x.id) filter (where x.status = 'skipped' and x.action <> 'hold'
                             and x.mode <> 'dry_run')::integer,
         round(sum(x.new_amount_micros) / 1000000.0, 2),
         round(sum((x.inputs ->> 'channel_target_paid_leads')::numeric), 2),
         (select coalesce(sum(cs.spend), 0) from public.lead_channel_stats cs
           where cs.channel = c.key and cs.day = p_day - 1),
         (select coalesce(sum(cs.leads_generated), 0) from public.lead_channel_stats cs
           where cs.channel = c.key and cs.day = p_day - 1)::integer
  from public.ad_channels c
  left join latest x on x.channel = c.key
  where c.is_paid
  group by c.key, c.label, c.kill_switch, c.daily_cap, c.sort_order
  order by c.sort_order, c.key
$$;
comment on function public.report_channel_status(date) is
  'Per paid channel on a Dutch day: its kill switch and cap, active budgets, the day''s decisions '
  '(latest adjustment per budget: raised, lowered, held, applied, refused), the planned budget and '
  'paid leads expected from it, and yesterday''s spend and leads.';
revoke execute on function public.report_channel_status(date) from public, anon, authenticated;
grant execute on function public.report_channel_status(date) to service_role;
