-- record_campaign_metrics: a campaign given twice is refused, and the unchanged rows are
-- recognised as the columns keep them.
--
-- 20261209000100 left unchanged rows out before the upsert by comparing the payload as sent.
-- Two things followed that it did not say. A payload naming one campaign's day twice was
-- refused by the upsert only when both rows reached it: with one of them equal to the stored
-- row, the other was written. Such a payload is now refused whole (22023, naming the campaign).
-- And a platform's fractional conversions (numeric(12, 2) keeps 1.004 as 1.00) or a lost
-- share with more than four decimals never compared equal, so those rows were locked again
-- every morning; the payload is now compared as the columns store it.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- supabase/schemas/09_stats.sql
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
