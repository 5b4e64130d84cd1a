-- =============================================================================
-- Daily stats per segment: leads, their outcome and channel, ad metrics,
-- money and capacity; the aggregate job writes them.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- -----------------------------------------------------------------------------
-- lead_generation_stats: what happened, per segment per Dutch day
-- -----------------------------------------------------------------------------
create table public.lead_generation_stats (
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  day date not null,
  leads_generated integer not null default 0 check (leads_generated >= 0),
  leads_accepted integer not null default 0 check (leads_accepted >= 0),
  leads_rejected integer not null default 0 check (leads_rejected >= 0),
  leads_pending integer not null default 0 check (leads_pending >= 0),
  leads_google_ads integer not null default 0 check (leads_google_ads >= 0),
  leads_seo integer not null default 0 check (leads_seo >= 0),
  leads_microsite integer not null default 0 check (leads_microsite >= 0),
  leads_other integer not null default 0 check (leads_other >= 0),
  revenue numeric(12, 2) not null default 0 check (revenue >= 0),
  ad_spend numeric(12, 2) not null default 0 check (ad_spend >= 0),
  ad_clicks bigint not null default 0 check (ad_clicks >= 0),
  ad_impressions bigint not null default 0 check (ad_impressions >= 0),
  ad_conversions numeric(12, 2) not null default 0 check (ad_conversions >= 0),
  cpl numeric(12, 2) check (cpl is null or cpl >= 0),
  active_partners integer not null default 0 check (active_partners >= 0),
  total_capacity numeric(12, 2) not null default 0 check (total_capacity >= 0),
  computed_at timestamptz not null default now(),
  primary key (segment_id, day),
  check (leads_accepted + leads_rejected + leads_pending = leads_generated),
  check (leads_google_ads + leads_seo + leads_microsite + leads_other = leads_generated)
);
create index lead_generation_stats_day_idx on public.lead_generation_stats (day);

comment on table public.lead_generation_stats is
  'One row per segment per Dutch calendar day: leads, their outcome and channel, money, and partner capacity.';
comment on column public.lead_generation_stats.day is 'Calendar day in Europe/Amsterdam.';
comment on column public.lead_generation_stats.leads_generated is 'Leads created that day in the segment.';
comment on column public.lead_generation_stats.leads_accepted is 'Of those, accepted by a partner (as of the last aggregation).';
comment on column public.lead_generation_stats.leads_rejected is 'Of those, rejected.';
comment on column public.lead_generation_stats.leads_pending is 'Of those, not yet accepted or rejected.';
comment on column public.lead_generation_stats.leads_google_ads is 'Leads from Google Ads.';
comment on column public.lead_generation_stats.leads_seo is 'Leads from organic search.';
comment on column public.lead_generation_stats.leads_microsite is 'Leads from our microsites.';
comment on column public.lead_generation_stats.leads_other is 'Leads from any other or unknown source.';
comment on column public.lead_generation_stats.revenue is 'Sum of the price of accepted leads (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_spend is 'Google Ads cost attributed to the segment (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_clicks is 'Google Ads clicks. Admin-only.';
comment on column public.lead_generation_stats.ad_impressions is 'Google Ads impressions. Admin-only.';
comment on column public.lead_generation_stats.ad_conversions is 'Google Ads conversions (click date). Admin-only.';
comment on column public.lead_generation_stats.cpl is 'ad_spend / leads_google_ads; null when there were no Google Ads leads. Admin-only.';
comment on column public.lead_generation_stats.active_partners is 'Partners with an active subscription covering the segment that day.';
comment on column public.lead_generation_stats.total_capacity is 'Leads those partners can absorb that day.';
comment on column public.lead_generation_stats.computed_at is 'When the aggregate job last wrote this row.';

alter table public.lead_generation_stats enable row level security;
revoke all on table public.lead_generation_stats from anon, authenticated;
grant select (
  segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
  leads_google_ads, leads_seo, leads_microsite, leads_other, active_partners, total_capacity,
  computed_at
) on table public.lead_generation_stats to authenticated;
grant all on table public.lead_generation_stats to service_role;
create policy "Partners read counts of their subscribed segments, admins all"
  on public.lead_generation_stats for select to authenticated
  using (segment_id in (select private.readable_segment_ids()));

-- -----------------------------------------------------------------------------
-- Google Ads metrics per campaign per day
-- -----------------------------------------------------------------------------
create table public.ad_campaign_daily_metrics (
  customer_id text not null,
  campaign_id text not null,
  day date not null,
  budget_resource_name text,
  cost_micros bigint not null default 0 check (cost_micros >= 0),
  clicks bigint not null default 0 check (clicks >= 0),
  impressions bigint not null default 0 check (impressions >= 0),
  conversions numeric(12, 2) not null default 0 check (conversions >= 0),
  search_budget_lost_impression_share numeric(5, 4)
    check (search_budget_lost_impression_share is null
           or search_budget_lost_impression_share between 0 and 1),
  fetched_at timestamptz not null default now(),
  primary key (customer_id, campaign_id, day)
);
create index ad_campaign_daily_metrics_day_idx on public.ad_campaign_daily_metrics (day);

comment on table public.ad_campaign_daily_metrics is
  'Google Ads metrics per campaign per day, as fetched by the aggregate job. Admin-only.';
comment on column public.ad_campaign_daily_metrics.fetched_at is
  'When the row was fetched with these values (a re-fetch that changes nothing leaves it).';
comment on column public.ad_campaign_daily_metrics.cost_micros is 'Cost in micros (1,000,000 = 1 euro).';
comment on column public.ad_campaign_daily_metrics.search_budget_lost_impression_share is
  'Share of impressions lost to a too small budget; near 0 means more budget buys little.';

alter table public.ad_campaign_daily_metrics enable row level security;
revoke all on table public.ad_campaign_daily_metrics from anon, authenticated;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant all on table public.ad_campaign_daily_metrics to service_role;
create policy "Admins can read campaign metrics"
  on public.ad_campaign_daily_metrics for select to authenticated
  using ((select private.is_admin()));

create or replace function public.record_campaign_metrics(p_day date, p_metrics jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  if p_day is null or jsonb_typeof(p_metrics) is distinct from 'array' then
    raise exception 'record_campaign_metrics needs a day and an array of metrics' using errcode = '22023';
  end if;
  insert into public.ad_campaign_daily_metrics as m (
    customer_id, campaign_id, day, budget_resource_name, cost_micros, clicks, impressions,
    conversions, search_budget_lost_impression_share)
  select r.customer_id, r.campaign_id, p_day, r.budget_resource_name, r.cost_micros, r.clicks,
         r.impressions, r.conversions, r.search_budget_lost_impression_share
  from jsonb_to_recordset(p_metrics) as r (
    customer_id text, campaign_id text, budget_resource_name text, cost_micros bigint,
    clicks bigint, impressions bigint, conversions numeric, search_budget_lost_impression_share numeric)
  on conflict (customer_id, campaign_id, day) do update set
    budget_resource_name = excluded.budget_resource_name,
    cost_micros = excluded.cost_micros,
    clicks = excluded.clicks,
    impressions = excluded.impressions,
    conversions = excluded.conversions,
    search_budget_lost_impression_share = excluded.search_budget_lost_impression_share,
    fetched_at = now()
  -- The aggregate re-fetches a trailing window every run: a row Google Ads has not
  -- restated is left as it is (no dead tuple, its fetched_at the time it last changed).
  where (m.budget_resource_name, m.cost_micros, m.clicks, m.impressions, m.conversions,
         m.search_budget_lost_impression_share)
        is distinct from (excluded.budget_resource_name, excluded.cost_micros, excluded.clicks,
                          excluded.impressions, excluded.conversions,
                          excluded.search_budget_lost_impression_share);
  get diagnostics written = row_count;
  return written;
end
$$;
comment on function public.record_campaign_metrics(date, jsonb) is
  'Upsert one day of Google Ads campaign metrics [{customer_id, campaign_id, cost_micros, ...}]; rows '
  'that did not change are not rewritten. Returns the rows written.';
revoke execute on function public.record_campaign_metrics(date, jsonb) from public, anon, authenticated;
grant execute on function public.record_campaign_metrics(date, jsonb) to service_role;

-- -----------------------------------------------------------------------------
-- Aggregation: leads + ad metrics + capacity -> lead_generation_stats
-- -----------------------------------------------------------------------------
create or replace function public.aggregate_lead_stats(p_from date, p_to date)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  if p_from is null or p_to is null or p_from > p_to then
    raise exception 'aggregate_lead_stats needs from <= to, got % .. %', p_from, p_to
      using errcode = '22023';
  end if;

  with bounds as (
    select (p_from::timestamp at time zone 'Europe/Amsterdam') as lo,
           ((p_to + 1)::timestamp at time zone 'Europe/Amsterdam') as hi
  ),
  lead_counts as (
    select l.segment_id,
           (l.created_at at time zone 'Europe/Amsterdam')::date as day,
           count(*)::integer as generated,
           count(*) filter (where l.status = 'accepted')::integer as accepted,
           count(*) filter (where l.status = 'rejected')::integer as rejected,
           count(*) filter (where l.status = 'pending')::integer as pending,
           count(*) filter (where l.source_channel = 'google_ads')::integer as google_ads,
           count(*) filter (where l.source_channel = 'seo')::integer as seo,
           count(*) filter (where l.source_channel = 'microsite')::integer as microsite,
           count(*) filter (where l.source_channel is null or l.source_channel = 'other')::integer as other,
           coalesce(sum(l.price) filter (where l.status = 'accepted'), 0) as revenue
    from public.leads l, bounds b
    where l.segment_id is not null and l.created_at >= b.lo and l.created_at < b.hi
    group by 1, 2
  ),
  ads as (
    select cb.segment_id, m.day,
           round(sum(m.cost_micros) / 1000000.0, 2) as spend,
           sum(m.clicks) as clicks,
           sum(m.impressions) as impressions,
           sum(m.conversions) as conversions
    from public.ad_campaign_daily_metrics m
    join public.segment_campaign_budgets cb
      on cb.customer_id = m.customer_id and cb.campaign_id = m.campaign_id
    where m.day between p_from and p_to
    group by 1, 2
  ),
  capacity as (
    select c.segment_id, c.day, c.active_partners, c.capacity
    from public.segment_capacity(p_from, p_to) c
  ),
  grid as (
    -- Every active segment has a row for every day, also without leads or ads.
    select s.id as segment_id, d::date as day
    from public.lead_segments s
    cross join generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') as d
    where s.is_active
  ),
  keyed as (
    -- The rows to write: grid, lead counts and ads joined on (segment, day) at once
    -- (each is unique per key), instead of a union of their keys joined back to each.
    select coalesce(g.segment_id, lc.segment_id) as segment_id,
           coalesce(g.day, lc.day) as day,
           lc.generated, lc.accepted, lc.rejected, lc.pending, lc.google_ads, lc.seo,
           lc.microsite, lc.other, lc.revenue
    from grid g
    full join lead_counts lc on lc.segment_id = g.segment_id and lc.day = g.day
  ),
  keys as (
    select coalesce(k.segment_id, a.segment_id) as segment_id,
           coalesce(k.day, a.day) as day,
           k.generated, k.accepted, k.rejected, k.pending, k.google_ads, k.seo, k.microsite,
           k.other, k.revenue, a.spend, a.clicks, a.impressions, a.conversions
    from keyed k
    full join ads a on a.segment_id = k.segment_id and a.day = k.day
  )
  insert into public.lead_generation_stats as st (
    segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
    leads_google_ads, leads_seo, leads_microsite, leads_other, revenue, ad_spend, ad_clicks,
    ad_impressions, ad_conversions, cpl, active_partners, total_capacity, computed_at)
  select k.segment_id, k.day,
         coalesce(k.generated, 0), coalesce(k.accepted, 0), coalesce(k.rejected, 0),
         coalesce(k.pending, 0), coalesce(k.google_ads, 0), coalesce(k.seo, 0),
         coalesce(k.microsite, 0), coalesce(k.other, 0), coalesce(k.revenue, 0),
         coalesce(k.spend, 0), coalesce(k.clicks, 0), coalesce(k.impressions, 0),
         coalesce(k.conversions, 0),
         round(k.spend / nullif(k.google_ads, 0), 2),
         coalesce(c.active_partners, 0), coalesce(c.capacity, 0), now()
  from keys k
  left join capacity c on c.segment_id = k.segment_id and c.day = k.day
  on conflict (segment_id, day) do update set
    leads_generated = excluded.leads_generated,
    leads_accepted = excluded.leads_accepted,
    leads_rejected = excluded.leads_rejected,
    leads_pending = excluded.leads_pending,
    leads_google_ads = excluded.leads_google_ads,
    leads_seo = excluded.leads_seo,
    leads_microsite = excluded.leads_microsite,
    leads_other = excluded.leads_other,
    revenue = excluded.revenue,
    ad_spend = excluded.ad_spend,
    ad_clicks = excluded.ad_clicks,
    ad_impressions = excluded.ad_impressions,
    ad_conversions = excluded.ad_conversions,
    cpl = excluded.cpl,
    active_partners = excluded.active_partners,
    total_capacity = excluded.total_capacity,
    computed_at = excluded.computed_at
  -- A rerun over unchanged data leaves the rows exactly as they were.
  where (st.leads_generated, st.leads_accepted, st.leads_rejected, st.leads_pending,
         st.leads_google_ads, st.leads_seo, st.leads_microsite, st.leads_other, st.revenue,
         st.ad_spend, st.ad_clicks, st.ad_impressions, st.ad_conversions, st.cpl,
         st.active_partners, st.total_capacity)
        is distinct from
        (excluded.leads_generated, excluded.leads_accepted, excluded.leads_rejected,
         excluded.leads_pending, excluded.leads_google_ads, excluded.leads_seo,
         excluded.leads_microsite, excluded.leads_other, excluded.revenue, excluded.ad_spend,
         excluded.ad_clicks, excluded.ad_impressions, excluded.ad_conversions, excluded.cpl,
         excluded.active_partners, excluded.total_capacity);
  get diagnostics written = row_count;

  return written;
end
$$;
comment on function public.aggregate_lead_stats(date, date) is
  'Recompute lead_generation_stats for the Dutch days from..to (set-based upsert; a rerun changes nothing '
  'unless the data did). Returns the rows written. The plans of those days take the new actual from the '
  'next plan run (update_lead_gaps).';
revoke execute on function public.aggregate_lead_stats(date, date) from public, anon, authenticated;
grant execute on function public.aggregate_lead_stats(date, date) to service_role;
