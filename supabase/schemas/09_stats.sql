-- =============================================================================
-- Daily stats per segment: leads, their outcome and channel, ad metrics,
-- money and capacity; the aggregate job writes them.
-- =============================================================================

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
  leads_paid integer not null default 0 check (leads_paid >= 0),
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
  check (leads_paid <= leads_generated)
);
create index lead_generation_stats_day_idx on public.lead_generation_stats (day);

comment on table public.lead_generation_stats is
  'One row per segment per Dutch calendar day: leads, their outcome and channel, money, and partner capacity.';
comment on column public.lead_generation_stats.day is 'Calendar day in Europe/Amsterdam.';
comment on column public.lead_generation_stats.leads_generated is 'Leads created that day in the segment.';
comment on column public.lead_generation_stats.leads_accepted is 'Of those, accepted by a partner (as of the last aggregation).';
comment on column public.lead_generation_stats.leads_rejected is 'Of those, rejected.';
comment on column public.lead_generation_stats.leads_pending is 'Of those, not yet accepted or rejected.';
comment on column public.lead_generation_stats.leads_paid is
  'Leads from the paid channels (public.ad_channels.is_paid); per channel in lead_channel_stats.';
comment on column public.lead_generation_stats.revenue is 'Sum of the price of accepted leads (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_spend is 'Cost of every paid channel attributed to the segment (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_clicks is 'Clicks, every paid channel. Admin-only.';
comment on column public.lead_generation_stats.ad_impressions is 'Impressions, every paid channel. Admin-only.';
comment on column public.lead_generation_stats.ad_conversions is 'Conversions reported by the paid channels (click date). Admin-only.';
comment on column public.lead_generation_stats.cpl is 'ad_spend / leads_paid; null when there were no paid leads. Admin-only.';
comment on column public.lead_generation_stats.active_partners is 'Partners with an active subscription covering the segment that day.';
comment on column public.lead_generation_stats.total_capacity is 'Leads those partners can absorb that day.';
comment on column public.lead_generation_stats.computed_at is 'When the aggregate job last wrote this row.';

alter table public.lead_generation_stats enable row level security;
revoke all on table public.lead_generation_stats from anon, authenticated;
grant select (
  segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
  leads_paid, active_partners, total_capacity, computed_at
) on table public.lead_generation_stats to authenticated;
grant all on table public.lead_generation_stats to service_role;
create policy "Partners read counts of their subscribed segments, admins all"
  on public.lead_generation_stats for select to authenticated
  using (segment_id in (select private.readable_segment_ids()));

-- -----------------------------------------------------------------------------
-- Ad metrics per channel, campaign and day
-- -----------------------------------------------------------------------------
create table public.ad_campaign_daily_metrics (
  channel text not null default 'google_ads' references public.ad_channels (key),
  customer_id text not null,
  campaign_id text not null,
  day date not null,
  budget_resource_name text,
  cost_micros bigint not null default 0 check (cost_micros >= 0),
  clicks bigint not null default 0 check (clicks >= 0),
  impressions bigint not null default 0 check (impressions >= 0),
  -- (numeric holds 'NaN', which compares above every number: refused by name)
  conversions numeric(12, 2) not null default 0 check (conversions >= 0)
    constraint ad_campaign_daily_metrics_conversions_not_nan check (conversions <> 'NaN'),
  search_budget_lost_impression_share numeric(5, 4)
    check (search_budget_lost_impression_share is null
           or search_budget_lost_impression_share between 0 and 1),
  fetched_at timestamptz not null default now(),
  primary key (channel, customer_id, campaign_id, day)
);
create index ad_campaign_daily_metrics_day_idx on public.ad_campaign_daily_metrics (day);

comment on table public.ad_campaign_daily_metrics is
  'Metrics per paid channel, campaign and day, as fetched by the aggregate job. Admin-only.';
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

create or replace function public.record_campaign_metrics(p_channel text, p_day date, p_metrics jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
  twice record;
begin
  if p_day is null or jsonb_typeof(p_metrics) is distinct from 'array' then
    raise exception 'record_campaign_metrics needs a day and an array of metrics' using errcode = '22023';
  end if;
  if not exists (select 1 from public.ad_channels c where c.key = p_channel and c.is_paid) then
    raise exception 'record_campaign_metrics: % is not a paid channel', coalesce(p_channel, 'null')
      using errcode = '22023';
  end if;
  -- A campaign's day once: which of two rows would win is not the caller's to leave open
  -- (and the upsert alone would refuse it only when both rows reached it).
  select r.customer_id, r.campaign_id into twice
  from jsonb_to_recordset(p_metrics) as r (customer_id text, campaign_id text)
  group by r.customer_id, r.campaign_id
  having count(*) > 1
  limit 1;
  if found then
    raise exception 'record_campaign_metrics: campaign % of customer % is given twice for %',
      twice.campaign_id, twice.customer_id, p_day
      using errcode = '22023';
  end if;
  insert into public.ad_campaign_daily_metrics as m (
    channel, customer_id, campaign_id, day, budget_resource_name, cost_micros, clicks, impressions,
    conversions, search_budget_lost_impression_share)
  select p_channel, r.customer_id, r.campaign_id, p_day, r.budget_resource_name, r.cost_micros, r.clicks,
         r.impressions, r.conversions, r.search_budget_lost_impression_share
  from jsonb_to_recordset(p_metrics) as r (
    customer_id text, campaign_id text, budget_resource_name text, cost_micros bigint,
    clicks bigint, impressions bigint, conversions numeric, search_budget_lost_impression_share numeric)
  -- Only new and changed rows reach the upsert (as in aggregate_lead_stats): it locks every
  -- row it finds, a WAL record each, before its WHERE sees the row unchanged, and most of a
  -- re-fetched window is unchanged. Compared as the columns keep them: a platform's
  -- fractional conversions (1.004 is stored as 1.00) are unchanged when they round alike.
  where not exists (
    select 1 from public.ad_campaign_daily_metrics o
    where o.channel = p_channel and o.customer_id = r.customer_id and o.campaign_id = r.campaign_id
      and o.day = p_day
      and (o.budget_resource_name, o.cost_micros, o.clicks, o.impressions, o.conversions,
           o.search_budget_lost_impression_share)
          is not distinct from
          (r.budget_resource_name, r.cost_micros, r.clicks, r.impressions,
           r.conversions::numeric(12, 2), r.search_budget_lost_impression_share::numeric(5, 4)))
  on conflict (channel, customer_id, campaign_id, day) do update set
    budget_resource_name = excluded.budget_resource_name,
    cost_micros = excluded.cost_micros,
    clicks = excluded.clicks,
    impressions = excluded.impressions,
    conversions = excluded.conversions,
    search_budget_lost_impression_share = excluded.search_budget_lost_impression_share,
    fetched_at = now()
  -- The aggregate re-fetches a trailing window every run: a row the channel has not
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
comment on function public.record_campaign_metrics(text, date, jsonb) is
  'Upsert one day of one paid channel''s campaign metrics [{customer_id, campaign_id, cost_micros, ...}]; '
  'rows that did not change are not rewritten. Returns the rows written.';
revoke execute on function public.record_campaign_metrics(text, date, jsonb) from public, anon, authenticated;
grant execute on function public.record_campaign_metrics(text, date, jsonb) to service_role;

-- -----------------------------------------------------------------------------
-- lead_channel_stats: the same day per channel (rows, not a column per channel)
-- -----------------------------------------------------------------------------
create table public.lead_channel_stats (
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  day date not null,
  channel text not null references public.ad_channels (key),
  leads_generated integer not null default 0 check (leads_generated >= 0),
  leads_accepted integer not null default 0 check (leads_accepted >= 0),
  revenue numeric(12, 2) not null default 0 check (revenue >= 0),
  spend numeric(12, 2) not null default 0 check (spend >= 0),
  clicks bigint not null default 0 check (clicks >= 0),
  impressions bigint not null default 0 check (impressions >= 0),
  conversions numeric(12, 2) not null default 0 check (conversions >= 0),
  computed_at timestamptz not null default now(),
  primary key (segment_id, day, channel),
  check (leads_accepted <= leads_generated)
);
create index lead_channel_stats_channel_day_idx on public.lead_channel_stats (channel, day);
create index lead_channel_stats_day_idx on public.lead_channel_stats (day);
comment on table public.lead_channel_stats is
  'Per segment, Dutch day and channel (paid and organic): leads by leads.source_channel, and for paid '
  'channels the ad metrics of the segment''s mapped campaigns. A row only where there were leads or spend. '
  'Written with lead_generation_stats by aggregate_lead_stats.';
comment on column public.lead_channel_stats.spend is 'Cost on the channel (euro). Admin-only.';
comment on column public.lead_channel_stats.conversions is 'Conversions the channel reported (click date). Admin-only.';

alter table public.lead_channel_stats enable row level security;
revoke all on table public.lead_channel_stats from anon, authenticated;
grant select (segment_id, day, channel, leads_generated, leads_accepted, computed_at)
  on table public.lead_channel_stats to authenticated;
grant all on table public.lead_channel_stats to service_role;
create policy "Partners read channel counts of subscribed segments"
  on public.lead_channel_stats for select to authenticated
  using (segment_id in (select private.readable_segment_ids()));

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

  -- Per channel first: leads by their source channel, ad metrics by the channel's mapped
  -- campaigns. The segment's day is their sum. One statement: both tables or neither.
  with bounds as (
    select (p_from::timestamp at time zone 'Europe/Amsterdam') as lo,
           ((p_to + 1)::timestamp at time zone 'Europe/Amsterdam') as hi
  ),
  lead_counts as (
    select l.segment_id,
           (l.created_at at time zone 'Europe/Amsterdam')::date as day,
           coalesce(l.source_channel, 'other') as channel,
           count(*)::integer as generated,
           count(*) filter (where l.status = 'accepted')::integer as accepted,
           count(*) filter (where l.status = 'rejected')::integer as rejected,
           count(*) filter (where l.status = 'pending')::integer as pending,
           coalesce(sum(l.price) filter (where l.status = 'accepted'), 0) as revenue
    from public.leads l, bounds b
    where l.segment_id is not null and l.created_at >= b.lo and l.created_at < b.hi
    group by 1, 2, 3
  ),
  ads as (
    select cb.segment_id, m.day, m.channel,
           round(sum(m.cost_micros) / 1000000.0, 2) as spend,
           sum(m.clicks) as clicks,
           sum(m.impressions) as impressions,
           sum(m.conversions) as conversions
    from public.ad_campaign_daily_metrics m
    join public.segment_campaign_budgets cb
      on cb.channel = m.channel and cb.customer_id = m.customer_id and cb.campaign_id = m.campaign_id
    where m.day between p_from and p_to
    group by 1, 2, 3
  ),
  channel_days as materialized (
    select coalesce(lc.segment_id, a.segment_id) as segment_id, coalesce(lc.day, a.day) as day,
           coalesce(lc.channel, a.channel) as channel,
           coalesce(lc.generated, 0) as generated, coalesce(lc.accepted, 0) as accepted,
           coalesce(lc.rejected, 0) as rejected, coalesce(lc.pending, 0) as pending,
           coalesce(lc.revenue, 0) as revenue, coalesce(a.spend, 0) as spend,
           coalesce(a.clicks, 0) as clicks, coalesce(a.impressions, 0) as impressions,
           coalesce(a.conversions, 0) as conversions, c.is_paid
    from lead_counts lc
    full join ads a on a.segment_id = lc.segment_id and a.day = lc.day and a.channel = lc.channel
    join public.ad_channels c on c.key = coalesce(lc.channel, a.channel)
  ),
  gone as (
    -- A restated day may lose a channel's row (its leads re-attributed): it goes.
    delete from public.lead_channel_stats cs
     where cs.day between p_from and p_to
       and not exists (select 1 from channel_days cd
                       where cd.segment_id = cs.segment_id and cd.day = cs.day and cd.channel = cs.channel)
    returning 1
  ),
  per_channel as (
    insert into public.lead_channel_stats as cs (
      segment_id, day, channel, leads_generated, leads_accepted, revenue, spend, clicks, impressions,
      conversions, computed_at)
    select cd.segment_id, cd.day, cd.channel, cd.generated, cd.accepted, cd.revenue, cd.spend, cd.clicks,
           cd.impressions, cd.conversions, now()
    from channel_days cd
    -- Only new and changed rows reach the upsert: it locks every row it finds (a WAL record
    -- each) before its WHERE sees the row unchanged, and a restated day is mostly unchanged.
    where not exists (
      select 1 from public.lead_channel_stats o
      where o.day between p_from and p_to
        and o.segment_id = cd.segment_id and o.day = cd.day and o.channel = cd.channel
        and (o.leads_generated, o.leads_accepted, o.revenue, o.spend, o.clicks, o.impressions,
             o.conversions)
            is not distinct from
            (cd.generated, cd.accepted, cd.revenue, cd.spend, cd.clicks, cd.impressions,
             cd.conversions))
    on conflict (segment_id, day, channel) do update set
      leads_generated = excluded.leads_generated,
      leads_accepted = excluded.leads_accepted,
      revenue = excluded.revenue,
      spend = excluded.spend,
      clicks = excluded.clicks,
      impressions = excluded.impressions,
      conversions = excluded.conversions,
      computed_at = excluded.computed_at
    where (cs.leads_generated, cs.leads_accepted, cs.revenue, cs.spend, cs.clicks, cs.impressions,
           cs.conversions)
          is distinct from
          (excluded.leads_generated, excluded.leads_accepted, excluded.revenue, excluded.spend,
           excluded.clicks, excluded.impressions, excluded.conversions)
    returning 1
  ),
  per_segment as (
    select cd.segment_id, cd.day,
           sum(cd.generated)::integer as generated,
           sum(cd.accepted)::integer as accepted,
           sum(cd.rejected)::integer as rejected,
           sum(cd.pending)::integer as pending,
           sum(cd.generated) filter (where cd.is_paid)::integer as paid,
           sum(cd.revenue) as revenue,
           sum(cd.spend) as spend,
           sum(cd.clicks) as clicks,
           sum(cd.impressions) as impressions,
           sum(cd.conversions) as conversions
    from channel_days cd
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
  keys as (
    select coalesce(g.segment_id, ps.segment_id) as segment_id,
           coalesce(g.day, ps.day) as day,
           ps.generated, ps.accepted, ps.rejected, ps.pending, ps.paid, ps.revenue, ps.spend,
           ps.clicks, ps.impressions, ps.conversions
    from grid g
    full join per_segment ps on ps.segment_id = g.segment_id and ps.day = g.day
  ),
  fresh as (
    select k.segment_id, k.day,
           coalesce(k.generated, 0) as generated, coalesce(k.accepted, 0) as accepted,
           coalesce(k.rejected, 0) as rejected, coalesce(k.pending, 0) as pending,
           coalesce(k.paid, 0) as paid, coalesce(k.revenue, 0) as revenue,
           coalesce(k.spend, 0) as spend, coalesce(k.clicks, 0) as clicks,
           coalesce(k.impressions, 0) as impressions, coalesce(k.conversions, 0) as conversions,
           round(k.spend / nullif(k.paid, 0), 2) as cpl,
           coalesce(c.active_partners, 0) as active_partners, coalesce(c.capacity, 0) as capacity
    from keys k
    left join capacity c on c.segment_id = k.segment_id and c.day = k.day
  )
  insert into public.lead_generation_stats as st (
    segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
    leads_paid, revenue, ad_spend, ad_clicks, ad_impressions, ad_conversions, cpl, active_partners,
    total_capacity, computed_at)
  select f.segment_id, f.day, f.generated, f.accepted, f.rejected, f.pending, f.paid, f.revenue,
         f.spend, f.clicks, f.impressions, f.conversions, f.cpl, f.active_partners, f.capacity,
         now()
  from fresh f
  -- Only new and changed rows, as in per_channel.
  where not exists (
    select 1 from public.lead_generation_stats o
    where o.day between p_from and p_to
      and o.segment_id = f.segment_id and o.day = f.day
      and (o.leads_generated, o.leads_accepted, o.leads_rejected, o.leads_pending, o.leads_paid,
           o.revenue, o.ad_spend, o.ad_clicks, o.ad_impressions, o.ad_conversions, o.cpl,
           o.active_partners, o.total_capacity)
          is not distinct from
          (f.generated, f.accepted, f.rejected, f.pending, f.paid, f.revenue, f.spend, f.clicks,
           f.impressions, f.conversions, f.cpl, f.active_partners, f.capacity))
  on conflict (segment_id, day) do update set
    leads_generated = excluded.leads_generated,
    leads_accepted = excluded.leads_accepted,
    leads_rejected = excluded.leads_rejected,
    leads_pending = excluded.leads_pending,
    leads_paid = excluded.leads_paid,
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
         st.leads_paid, st.revenue, st.ad_spend, st.ad_clicks, st.ad_impressions,
         st.ad_conversions, st.cpl, st.active_partners, st.total_capacity)
        is distinct from
        (excluded.leads_generated, excluded.leads_accepted, excluded.leads_rejected,
         excluded.leads_pending, excluded.leads_paid, excluded.revenue, excluded.ad_spend,
         excluded.ad_clicks, excluded.ad_impressions, excluded.ad_conversions, excluded.cpl,
         excluded.active_partners, excluded.total_capacity);
  get diagnostics written = row_count;

  return written;
end
$$;
comment on function public.aggregate_lead_stats(date, date) is
  'Recompute lead_channel_stats and lead_generation_stats for the Dutch days from..to (set-based upserts; '
  'a rerun changes nothing unless the data did). Returns the segment-day rows written. The plans of '
  'those days take the new actual from the next plan run (update_lead_gaps).';
revoke execute on function public.aggregate_lead_stats(date, date) from public, anon, authenticated;
grant execute on function public.aggregate_lead_stats(date, date) to service_role;
