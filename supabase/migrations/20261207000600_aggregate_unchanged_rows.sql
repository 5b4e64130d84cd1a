-- aggregate_lead_stats: a restated day's unchanged rows are no longer locked.
--
-- The job restates a trailing window every morning (restate_window_days), and most of its
-- rows come out as they were. `insert ... on conflict do update ... where <changed>` locks
-- each row it finds before its WHERE sees it unchanged: a lock (and a WAL record) per row
-- and day of the window, every run. Rows equal to the stored ones are now left out before
-- the upsert; what is written, what is returned and computed_at are as before.
-- bench/RESULTS.md ("Issue 24, round 5") has the measurement.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- supabase/schemas/09_stats.sql
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
