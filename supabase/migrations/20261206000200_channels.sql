-- =============================================================================
-- Channels as a key (issue 22): public.ad_channels, budget mappings, metrics,
-- stats and response curves per channel, the channel's kill switch and cap in the
-- money rules, and the controller's inputs per (segment, channel) budget.
-- The leads columns follow in 20261206000210 (lock-safe), the API in ..._300.
--
-- squawk: the alters below are of Leadflow's own tables (mappings, metrics, stats,
-- the log, estimates: none is the marketplace's busy leads table), each at most some
-- thousands of rows a day, under the lock and statement timeouts below; the functions
-- dropped are made again in this file with their new signatures (docs/DEPLOY.md,
-- "squawk: the ignore list").
-- squawk-ignore-file ban-drop-column, ban-drop-constraint, constraint-missing-not-valid, adding-foreign-key-constraint, adding-serial-primary-key-field, ban-drop-function, require-concurrent-index-creation, ban-drop-default, ban-drop-not-null, disallowed-unique-constraint, ban-drop-view
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- ---------------------------------------------------------------------------
-- Channels
-- ---------------------------------------------------------------------------
create table public.ad_channels (
  key text primary key check (key ~ '^[a-z][a-z0-9_]{1,39}$'),
  label text not null check (btrim(label) <> ''),
  is_paid boolean not null,
  -- Paid channels only: what a budget's resource name and an account id look like.
  budget_name_pattern text,
  account_pattern text,
  -- Paid channels only: nothing is sent on the channel while on; its raises of one day
  -- sum to at most daily_cap euro (beside the account-wide cap in orchestration_settings).
  kill_switch boolean not null default false,
  daily_cap numeric(14, 2) check (daily_cap is null or daily_cap > 0),
  sort_order integer not null default 100,
  created_at timestamptz not null default now(),
  check (is_paid = (budget_name_pattern is not null)),
  check (is_paid = (account_pattern is not null)),
  check (is_paid or (not kill_switch and daily_cap is null))
);
comment on table public.ad_channels is
  'Every channel a lead can come from: paid ones (budgets Leadflow steers) and organic ones (SEO, '
  'microsite, other). Admins write; the kill switch and cap of a paid channel are money rules.';
comment on column public.ad_channels.budget_name_pattern is
  'POSIX regex every mapped budget''s resource name on this channel matches (its account id is the '
  'second path element); null for organic channels.';
comment on column public.ad_channels.account_pattern is 'POSIX regex of the channel''s account ids.';
comment on column public.ad_channels.kill_switch is
  'On: no change is sent on this channel (the global one is orchestration_settings.changes_enabled).';
comment on column public.ad_channels.daily_cap is
  'Euro: the most this channel''s mapped budgets may sum to in a day; null: no channel cap.';

insert into public.ad_channels (key, label, is_paid, budget_name_pattern, account_pattern, sort_order) values
  ('google_ads', 'Google Ads', true, '^customers/[0-9]{10}/campaignBudgets/[0-9]+$', '^[0-9]{10}$', 10),
  ('microsoft_ads', 'Microsoft Advertising', true,
   '^accounts/[0-9]+/(budgets/[0-9]+|campaigns/[0-9]+/budget)$', '^[0-9]+$', 20),
  ('seo', 'Organic search', false, null, null, 50),
  ('microsite', 'Microsites', false, null, null, 60),
  ('other', 'Other or unknown', false, null, null, 90);

alter table public.ad_channels enable row level security;
revoke all on table public.ad_channels from anon, authenticated, service_role;
-- Partners see which channels their leads came from (the names, not the money rules). A
-- channel's kill switch and cap are changed like the global ones, in the SQL editor
-- (docs/DEPLOY.md); no API role writes.
grant select (key, label, is_paid, sort_order) on table public.ad_channels to authenticated;
grant select on table public.ad_channels to service_role, leadflow_money;
create policy "Users with a profile read channels"
  on public.ad_channels for select to authenticated using ((select private.has_profile()));
create policy "The service role and the money owner read channels"
  on public.ad_channels for select to service_role, leadflow_money using (true);

-- A channel is never deleted: leads, stats and the audit log keep its key.
create or replace function private.keep_channels() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'channel % cannot be deleted: leads, stats and the audit log keep its key '
    '(set its kill switch, or deactivate its mappings)', old.key using errcode = '55000';
end
$$;
comment on function private.keep_channels() is 'Trigger: refuses to delete a channel.';
create trigger ad_channels_never_deleted
  before delete on public.ad_channels
  for each row execute function private.keep_channels();


-- The mapping: a channel per budget; the channel's patterns replace the Google formats.
alter table public.segment_campaign_budgets
  add column channel text not null default 'google_ads' references public.ad_channels (key),
  drop constraint segment_campaign_budgets_budget_resource_name_check,
  drop constraint segment_campaign_budgets_customer_id_check,
  drop constraint segment_campaign_budgets_customer_id_campaign_id_key;
alter table public.segment_campaign_budgets
  add constraint segment_campaign_budgets_customer_id_check check (customer_id ~ '^[0-9]+$'),
  add constraint segment_campaign_budgets_channel_customer_id_campaign_id_key
    unique (channel, customer_id, campaign_id);
comment on table public.segment_campaign_budgets is
  'Maps a segment to the campaign budget(s), per paid channel, the orchestrator changes for it: one row '
  'per (segment, channel, account, budget).';
comment on column public.segment_campaign_budgets.channel is 'The paid channel (public.ad_channels) the budget is on.';
comment on column public.segment_campaign_budgets.customer_id is
  'The account on the channel: a Google Ads customer id (10 digits), a Microsoft Advertising account id.';
comment on column public.segment_campaign_budgets.campaign_id is 'The campaign whose metrics count for the segment.';
comment on column public.segment_campaign_budgets.budget_resource_name is
  'The budget on its channel: customers/{cid}/campaignBudgets/{id} (Google Ads), accounts/{aid}/budgets/{id} '
  'or accounts/{aid}/campaigns/{cid}/budget (Microsoft Advertising); matches the channel''s pattern.';

-- The channel decides what a budget's name and account look like (a check constraint
-- cannot read ad_channels).
create or replace function private.check_budget_mapping() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  c record;
begin
  select ch.is_paid, ch.budget_name_pattern, ch.account_pattern into c
    from public.ad_channels ch where ch.key = new.channel;
  if not coalesce(c.is_paid, false) then
    raise exception 'channel % has no budgets to steer (not a paid channel)', new.channel
      using errcode = '23514';
  end if;
  if new.budget_resource_name !~ c.budget_name_pattern then
    raise exception '% is not a % budget (expected %)', new.budget_resource_name, new.channel,
      c.budget_name_pattern using errcode = '23514';
  end if;
  if new.customer_id !~ c.account_pattern then
    raise exception '% is not a % account id', new.customer_id, new.channel using errcode = '23514';
  end if;
  return new;
end
$$;
comment on function private.check_budget_mapping() is
  'Trigger: a mapped budget is on a paid channel and its name and account match that channel''s patterns.';
create trigger segment_campaign_budgets_check_channel
  before insert or update of channel, customer_id, budget_resource_name on public.segment_campaign_budgets
  for each row execute function private.check_budget_mapping();

-- A channel's patterns may change only while every budget mapped on it still matches them.
create or replace function private.check_channel_patterns() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  bad text;
begin
  if not new.is_paid and exists (select 1 from public.segment_campaign_budgets b where b.channel = new.key) then
    raise exception 'channel % has mapped budgets: it stays a paid channel', new.key using errcode = '23514';
  end if;
  select b.budget_resource_name into bad
    from public.segment_campaign_budgets b
   where b.channel = new.key
     and (b.budget_resource_name !~ new.budget_name_pattern or b.customer_id !~ new.account_pattern)
   limit 1;
  if bad is not null then
    raise exception 'channel %: the mapped budget % does not match the new patterns', new.key, bad
      using errcode = '23514';
  end if;
  return new;
end
$$;
comment on function private.check_channel_patterns() is
  'Trigger: a channel''s patterns change only while every budget mapped on it still matches them.';
create trigger ad_channels_check_patterns
  before update of is_paid, budget_name_pattern, account_pattern on public.ad_channels
  for each row execute function private.check_channel_patterns();

create or replace function private.segment_campaigns_for_admin(p_segment_id uuid)
returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select case when (select private.is_admin()) then coalesce((
           select jsonb_agg(jsonb_build_object(
                    'id', b.id,
                    'channel', b.channel,
                    'customer_id', b.customer_id,
                    'campaign_id', b.campaign_id,
                    'budget_resource_name', b.budget_resource_name,
                    'is_active', b.is_active
                  ) order by b.budget_resource_name)
           from public.segment_campaign_budgets b
           where b.segment_id = p_segment_id
         ), '[]'::jsonb) end
$$;
comment on function private.segment_campaigns_for_admin(uuid) is
  'Admin-only: the segment''s campaign budget mappings (every channel) as a JSON array; null for anyone else.';

drop function public.campaign_customer_ids();
create or replace function public.campaign_customer_ids()
returns table (channel text, customer_id text)
language sql stable
set search_path = ''
as $$
  select distinct cb.channel, cb.customer_id
  from public.segment_campaign_budgets cb
  join public.lead_segments s on s.id = cb.segment_id
  where cb.is_active and s.is_active
  order by 1, 2
$$;
comment on function public.campaign_customer_ids() is 'Per channel, the accounts with an active mapped budget.';
revoke execute on function public.campaign_customer_ids() from public, anon, authenticated;
grant execute on function public.campaign_customer_ids() to service_role;

create or replace function public.paid_channels()
returns table (key text, label text, budget_name_pattern text, account_pattern text, kill_switch boolean,
               daily_cap numeric)
language sql stable
set search_path = ''
as $$
  select c.key, c.label, c.budget_name_pattern, c.account_pattern, c.kill_switch, c.daily_cap
  from public.ad_channels c
  where c.is_paid
  order by c.sort_order, c.key
$$;
comment on function public.paid_channels() is
  'The paid channels: how their budgets are named, their kill switch and daily cap. The jobs route '
  'each budget to its channel by name.';
revoke execute on function public.paid_channels() from public, anon, authenticated;
grant execute on function public.paid_channels() to service_role;

-- ---------------------------------------------------------------------------
-- Attribution by data
-- ---------------------------------------------------------------------------
create table public.channel_attribution_rules (
  priority integer primary key check (priority > 0),
  channel text not null references public.ad_channels (key),
  -- A click id the lead carries (a column of leads), or UTM values (lower case; '' matches
  -- a missing value): the first rule by priority that matches names the channel.
  click_id text check (click_id in ('gclid', 'msclkid')),
  utm_sources text[],
  utm_mediums text[],
  note text,
  check (click_id is not null or utm_sources is not null or utm_mediums is not null)
);
comment on table public.channel_attribution_rules is
  'How a lead''s source_channel is found: the first rule by priority whose click id the lead carries, '
  'or whose UTM source and medium lists (null: any; an empty string matches a missing value) contain '
  'the lead''s. No rule matches: other. Admins write; a new channel is a row of ad_channels and its rules.';

insert into public.channel_attribution_rules (priority, channel, click_id, utm_sources, utm_mediums, note) values
  (10, 'google_ads', 'gclid', null, null, 'Google click id'),
  (20, 'microsoft_ads', 'msclkid', null, null, 'Microsoft click id'),
  (30, 'google_ads', null, array['google', 'adwords', 'google_ads', 'googleads', ''],
   array['cpc', 'ppc', 'paid', 'paid_search', 'paidsearch', 'sem'], 'paid Google UTMs (no source: Google)'),
  (40, 'microsoft_ads', null,
   array['bing', 'microsoft', 'msn', 'bing_ads', 'bingads', 'microsoft_ads', 'microsoftads'],
   array['cpc', 'ppc', 'paid', 'paid_search', 'paidsearch', 'sem'], 'paid Bing UTMs'),
  (50, 'microsite', null, array['microsite'], null, 'microsite as source'),
  (60, 'microsite', null, null, array['microsite'], 'microsite as medium'),
  (70, 'seo', null, null, array['organic', 'seo'], 'organic search');

create index channel_attribution_rules_channel_idx on public.channel_attribution_rules (channel);

-- Changed in the SQL editor or by a migration (a new channel's rules), like the settings.
alter table public.channel_attribution_rules enable row level security;
revoke all on table public.channel_attribution_rules from anon, authenticated, service_role;
grant select on table public.channel_attribution_rules to service_role;
create policy "The service role reads attribution rules"
  on public.channel_attribution_rules for select to service_role using (true);

create or replace function private.lead_source_channel(
  p_gclid text, p_msclkid text, p_utm_source text, p_utm_medium text
) returns text
language sql stable
set search_path = ''
as $$
  select coalesce((
    select r.channel
    from public.channel_attribution_rules r
    where case r.click_id
            when 'gclid' then nullif(btrim(p_gclid), '') is not null
            when 'msclkid' then nullif(btrim(p_msclkid), '') is not null
            else (r.utm_sources is null
                  or coalesce(lower(btrim(p_utm_source)), '') = any (r.utm_sources))
             and (r.utm_mediums is null
                  or coalesce(lower(btrim(p_utm_medium)), '') = any (r.utm_mediums))
          end
    order by r.priority
    limit 1
  ), 'other')
$$;
comment on function private.lead_source_channel(text, text, text, text) is
  'Channel of a lead from its click fields (gclid, msclkid, utm_source, utm_medium), by the first '
  'matching public.channel_attribution_rules row; other when none matches.';

-- ---------------------------------------------------------------------------
-- Stats per channel
-- ---------------------------------------------------------------------------
-- lead_segment_days reads the columns that go; it is made again below.
drop view public.lead_segment_days;

alter table public.lead_generation_stats
  add column leads_paid integer not null default 0 check (leads_paid >= 0);
update public.lead_generation_stats set leads_paid = leads_google_ads where leads_google_ads <> 0;
alter table public.lead_generation_stats
  drop column leads_google_ads,
  drop column leads_seo,
  drop column leads_microsite,
  drop column leads_other;
alter table public.lead_generation_stats
  add constraint lead_generation_stats_check1 check (leads_paid <= leads_generated);
comment on column public.lead_generation_stats.leads_paid is
  'Leads from the paid channels (public.ad_channels.is_paid); per channel in lead_channel_stats.';
comment on column public.lead_generation_stats.revenue is 'Sum of the price of accepted leads (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_spend is 'Cost of every paid channel attributed to the segment (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_clicks is 'Clicks, every paid channel. Admin-only.';
comment on column public.lead_generation_stats.ad_impressions is 'Impressions, every paid channel. Admin-only.';
comment on column public.lead_generation_stats.ad_conversions is 'Conversions reported by the paid channels (click date). Admin-only.';
comment on column public.lead_generation_stats.cpl is 'ad_spend / leads_paid; null when there were no paid leads. Admin-only.';
grant select (leads_paid) on table public.lead_generation_stats to authenticated;

alter table public.ad_campaign_daily_metrics
  add column channel text not null default 'google_ads' references public.ad_channels (key),
  drop constraint ad_campaign_daily_metrics_pkey;
alter table public.ad_campaign_daily_metrics
  add constraint ad_campaign_daily_metrics_pkey primary key (channel, customer_id, campaign_id, day);
comment on table public.ad_campaign_daily_metrics is
  'Metrics per paid channel, campaign and day, as fetched by the aggregate job. Admin-only.';

drop function public.record_campaign_metrics(date, jsonb);
create or replace function public.record_campaign_metrics(p_channel text, p_day date, p_metrics jsonb)
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
  if not exists (select 1 from public.ad_channels c where c.key = p_channel and c.is_paid) then
    raise exception 'record_campaign_metrics: % is not a paid channel', coalesce(p_channel, 'null')
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
  )
  insert into public.lead_generation_stats as st (
    segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
    leads_paid, revenue, ad_spend, ad_clicks, ad_impressions, ad_conversions, cpl, active_partners,
    total_capacity, computed_at)
  select k.segment_id, k.day,
         coalesce(k.generated, 0), coalesce(k.accepted, 0), coalesce(k.rejected, 0),
         coalesce(k.pending, 0), coalesce(k.paid, 0), coalesce(k.revenue, 0),
         coalesce(k.spend, 0), coalesce(k.clicks, 0), coalesce(k.impressions, 0),
         coalesce(k.conversions, 0),
         round(k.spend / nullif(k.paid, 0), 2),
         coalesce(c.active_partners, 0), coalesce(c.capacity, 0), now()
  from keys k
  left join capacity c on c.segment_id = k.segment_id and c.day = k.day
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

-- ---------------------------------------------------------------------------
-- Money rules per channel
-- ---------------------------------------------------------------------------
create index channel_orchestration_log_channel_idx on public.channel_orchestration_log (channel, day);
alter table public.channel_orchestration_log
  alter column channel drop default,
  alter column channel drop not null,
  drop constraint channel_orchestration_log_channel_check,
  add constraint channel_orchestration_log_channel_fkey
    foreign key (channel) references public.ad_channels (key);

create trigger ad_channels_lock_money
  before update or delete on public.ad_channels
  for each statement execute function private.lock_money_on_change();
comment on function private.lock_money_on_change() is
  'Trigger: a change of a kill switch, a cap, settings, bounds or mappings waits for the claim in progress.';

create or replace function private.channel_caps() returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(c.key, round(c.daily_cap * 1000000)::bigint), '{}')
  from public.ad_channels c
  where c.is_paid and c.daily_cap is not null
$$;
comment on function private.channel_caps() is
  'The daily cap of each paid channel that has one, in micros, by channel: {"microsoft_ads": 50000000}.';
alter function private.channel_caps() owner to leadflow_money;
revoke execute on function private.channel_caps() from public, anon, authenticated;

create or replace function private.channel_standing_totals() returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  -- Per capped channel, its mapped budgets (active or not) at the most each may stand at.
  select coalesce(jsonb_object_agg(t.channel, t.total), '{}')
  from (select cb.channel, sum(private.budget_standing_amount(cb.budget_resource_name))::bigint as total
        from public.segment_campaign_budgets cb
        join public.ad_channels c on c.key = cb.channel and c.daily_cap is not null
        group by cb.channel) t
$$;
comment on function private.channel_standing_totals() is
  'Per paid channel with a daily cap: the sum of its mapped budgets at the most they may stand at now.';
alter function private.channel_standing_totals() owner to leadflow_money;
revoke execute on function private.channel_standing_totals() from public, anon, authenticated;

create or replace function private.change_refusal(
  p_kind text,
  p_mode text,
  p_day date,
  p_budget text,
  p_segment_id uuid,
  p_old bigint,
  p_new bigint,
  p_expected_gap numeric,
  p_log_id bigint
) returns text
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  today date := private.today_nl();
  settings record;
  m record;
  base bigint;
  other bigint;
  ext record;
begin
  select o.changes_enabled, o.max_daily_change into settings from public.orchestration_settings o;
  if not found then
    return 'orchestration_settings has no row: nothing is sent without the daily limit';
  end if;
  if p_budget is null or p_new is null then
    return 'a change needs a budget and its new amount';
  end if;
  if p_new < 0 or p_new % 10000 <> 0 then
    return format('%s micros is not a whole number of cents', p_new);
  end if;
  select cb.segment_id, cb.is_active as mapping_active, s.code, s.is_active as segment_active,
         round(s.min_daily_budget * 1000000)::bigint as lo,
         round(s.max_daily_budget * 1000000)::bigint as hi,
         c.label as channel, c.kill_switch as channel_killed
    into m
    from public.segment_campaign_budgets cb
    join public.lead_segments s on s.id = cb.segment_id
    join public.ad_channels c on c.key = cb.channel
   where cb.budget_resource_name = p_budget;
  if not found then
    return 'the budget is not mapped to a segment (any more): Leadflow does not change it';
  end if;
  if p_segment_id is distinct from m.segment_id then
    return format('the budget is now mapped to segment %s, not the one decided for', m.code);
  end if;
  if not m.mapping_active then
    return 'the budget''s mapping is inactive';
  end if;
  if not m.segment_active then
    return format('segment %s is inactive', m.code);
  end if;
  if p_new < m.lo or p_new > m.hi then
    return format('%s euro is outside the segment''s bounds %s .. %s euro',
                  round(p_new / 1000000.0, 2), round(m.lo / 1000000.0, 2), round(m.hi / 1000000.0, 2));
  end if;
  if p_kind = 'adjust' and p_old is not null
     and not coalesce(sign(p_expected_gap) = sign(p_new - p_old), false) then
    return format('an adjustment never goes against the expected gap: %s -> %s micros with a gap of %s',
                  p_old, p_new, coalesce(p_expected_gap::text, 'unknown'));
  end if;
  if p_mode = 'live' or (p_mode = 'dry_run' and p_day = today) then
    if p_mode = 'live' and p_day is distinct from today then
      return format('live changes are only for today (%s), not %s', today, p_day);
    end if;
    other := (select l.id from public.channel_orchestration_log l
               where l.budget_resource_name = p_budget and l.mode = 'live' and l.kind = p_kind
                 and l.day = today and l.action <> 'hold'
                 and l.status in ('pending', 'sent', 'unknown', 'success')
                 and l.id is distinct from p_log_id
               order by l.id limit 1);
    if other is not null then
      return format('already changed today (log #%s); not applied twice', other);
    end if;
    other := (select l.id from public.channel_orchestration_log l
               where l.budget_resource_name = p_budget and l.mode = 'live'
                 and l.status in ('sent', 'unknown') and l.id is distinct from p_log_id
               order by l.id limit 1);
    if other is not null then
      return format('the outcome of log #%s is not known yet; nothing more is sent for this budget '
                    'until it is reconciled with %s', other, m.channel);
    end if;
    base := private.budget_day_base(p_budget, today);
    if base is null then
      return format('never reported by %s: no base to measure the daily limit from', m.channel);
    end if;
    if p_kind = 'rollback' and p_new <> base then
      return format('a rollback restores the amount of the start of today (%s micros), not %s',
                    base, p_new);
    end if;
    if abs(p_new - base) > floor(base * settings.max_daily_change) then
      return format('%s euro is more than %s %% from today''s starting budget of %s euro',
                    round(p_new / 1000000.0, 2), trim_scale(settings.max_daily_change * 100),
                    round(base / 1000000.0, 2));
    end if;
    for ext in
      select e.id, e.observed_micros from private.budget_external_changes e
       where e.budget_resource_name = p_budget and e.accepted_at is null
       order by e.id
    loop
      if abs(p_new - ext.observed_micros) > floor(ext.observed_micros * settings.max_daily_change) then
        return format('%s was seen holding %s micros, not the %s on record (external change '
                      '#%s): a change stays within %s %% of both until an admin accepts one',
                      m.channel, ext.observed_micros, base, ext.id, settings.max_daily_change * 100);
      end if;
    end loop;
  end if;
  if not coalesce(settings.changes_enabled, false) then
    return 'kill switch is on: not sent';
  end if;
  if m.channel_killed then
    return format('the kill switch of %s is on: not sent', m.channel);
  end if;
  return null;
end
$$;
comment on function private.change_refusal(text, text, date, text, uuid, bigint, bigint, numeric, bigint) is
  'Why a budget change may not be sent now (null: it may): mapping, active flags, whole cents, bounds, '
  'the sign of the gap, live only today, the daily limit of the day''s base and of every open external '
  'change, one change per budget per day, nothing while in doubt, the kill switch and the channel''s. Everything is read '
  'from the database; only the new amount and the gap come from the decision.';
alter function private.change_refusal(text, text, date, text, uuid, bigint, bigint, numeric, bigint)
  owner to leadflow_money;

create or replace function private.log_budget_decisions(
  p_run_id uuid,
  p_day date,
  p_kind text,
  p_mode text,
  p_triggered_by text,
  p_decisions jsonb
)
returns table (id bigint, budget_resource_name text, status text, error text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  today date := private.today_nl();
  d record;
  m record;
  old_amount bigint;
  new_amount bigint;
  act text;
  why text;
  cap bigint;
  total bigint;
  standing bigint;
  chan_caps jsonb := '{}'::jsonb;
  chan_totals jsonb := '{}'::jsonb;
  ch_cap bigint;
  ch_total bigint;
begin
  if p_day is null or p_kind is null or p_kind not in ('adjust', 'rollback')
     or p_mode is null or p_mode not in ('live', 'dry_run', 'validate_only')
     or coalesce(btrim(p_triggered_by), '') = '' then
    raise exception 'log_budget_decisions needs a day, a kind (adjust, rollback), a mode (live, '
      'dry_run, validate_only) and who triggered it' using errcode = '22023';
  end if;
  if jsonb_typeof(p_decisions) is distinct from 'array' then
    raise exception 'log_budget_decisions: p_decisions must be an array' using errcode = '22023';
  end if;
  if p_mode = 'live' and p_day <> today then
    raise exception 'live changes are only for today (%), not %; other days can be dry-run only', today, p_day
      using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_array_elements(p_decisions) e
    where jsonb_typeof(e) <> 'object'
       or (e ? 'new_amount_micros' and jsonb_typeof(e -> 'new_amount_micros') not in ('number', 'null'))
       or (jsonb_typeof(e -> 'new_amount_micros') = 'number'
           and ((e ->> 'new_amount_micros')::numeric < 0
                or (e ->> 'new_amount_micros')::numeric % 10000 <> 0
                or (e ->> 'new_amount_micros')::numeric > 9000000000000000))
  ) then
    raise exception 'every decision is an object whose new_amount_micros is whole cents (micros, a '
      'non-negative multiple of 10000)' using errcode = '22023';
  end if;
  perform private.lock_money();
  perform private.check_run_holds_lease(p_run_id);
  if p_mode <> 'dry_run' then
    cap := (select round(o.account_daily_cap * 1000000)::bigint from public.orchestration_settings o);
    chan_caps := private.channel_caps();
  end if;
  if cap is not null then
    total := (select coalesce(sum(sa.amount_micros), 0) from private.budget_standing_amounts() sa);
  end if;
  if chan_caps <> '{}'::jsonb then
    chan_totals := private.channel_standing_totals();
  end if;
  for d in
    select e.value ->> 'budget_resource_name' as budget_resource_name,
           e.value ->> 'action' as action,
           (e.value ->> 'old_amount_micros')::numeric as old_amount_micros,
           (e.value ->> 'new_amount_micros')::numeric as new_amount_micros,
           (e.value ->> 'expected_gap')::numeric as expected_gap,
           e.value -> 'inputs' as inputs,
           e.value ->> 'reason' as reason,
           e.value ->> 'skip_reason' as skip_reason,
           -- One change per budget and call: a budget's later rows are records only.
           row_number() over (partition by e.value ->> 'budget_resource_name' order by e.ord) > 1
             as repeated
    from jsonb_array_elements(p_decisions) with ordinality as e (value, ord)
    order by e.ord
  loop
    m := null;
    select cb.segment_id, cb.customer_id, cb.campaign_id, cb.channel into m
      from public.segment_campaign_budgets cb where cb.budget_resource_name = d.budget_resource_name;
    -- The old amount is the database's: its record of the budget now. Only a preview of
    -- another day (dry run) takes the caller's reading.
    old_amount := case when p_day = today then private.budget_record(d.budget_resource_name) end;
    if old_amount is null and p_mode <> 'live' then
      old_amount := d.old_amount_micros::bigint;
    end if;
    new_amount := d.new_amount_micros::bigint;
    act := case
             when coalesce(d.action, 'hold') not in ('increase', 'decrease') or new_amount is null then 'hold'
             when old_amount is null then d.action
             when new_amount = old_amount then 'hold'
             when new_amount > old_amount then 'increase'
             else 'decrease'
           end;
    if act = 'hold' then
      new_amount := old_amount;
    end if;
    why := case
             when act = 'hold' then 'hold: ' || coalesce(nullif(btrim(d.reason), ''), 'no change')
             when d.skip_reason is not null then d.skip_reason
             when d.repeated
               then 'the same budget twice in one call: only its first change may be sent'
             else private.change_refusal(p_kind, p_mode, p_day, d.budget_resource_name, m.segment_id,
                                         old_amount, new_amount, d.expected_gap, null)
           end;
    ch_cap := (chan_caps ->> m.channel)::bigint;
    if why is null and (cap is not null or ch_cap is not null) then
      -- The account daily cap and the channel's, counted in the order given: a raise from
      -- what the budget may stand at; a decrease of this call makes room for the raises
      -- after it (the claim counts it only once the channel confirmed it).
      standing := private.budget_standing_amount(d.budget_resource_name);
      ch_total := coalesce((chan_totals ->> m.channel)::bigint, 0);
      if act = 'increase' and new_amount > standing then
        if total + new_amount - standing > cap then
          why := format('the day''s budgets would sum to %s micros, over the account daily cap of '
                        '%s micros: not sent', total + new_amount - standing, cap);
        elsif ch_total + new_amount - standing > ch_cap then
          why := format('the day''s %s budgets would sum to %s micros, over that channel''s daily cap '
                        'of %s micros: not sent', m.channel, ch_total + new_amount - standing, ch_cap);
        else
          total := total + new_amount - standing;
          chan_totals := jsonb_set(chan_totals, array[m.channel], to_jsonb(ch_total + new_amount - standing));
        end if;
      elsif act = 'decrease' and new_amount < standing then
        total := total - (standing - new_amount);
        chan_totals := jsonb_set(chan_totals, array[m.channel], to_jsonb(ch_total - (standing - new_amount)));
      end if;
    end if;
    insert into public.channel_orchestration_log as l (
      run_id, day, segment_id, channel, kind, customer_id, campaign_id, budget_resource_name, action,
      old_amount_micros, new_amount_micros, change_pct, expected_gap, inputs, reason, mode, status,
      error, triggered_by, completed_at)
    values (
      p_run_id, p_day, m.segment_id, m.channel, p_kind, m.customer_id, m.campaign_id, d.budget_resource_name, act,
      old_amount, new_amount,
      round((new_amount - old_amount) * 100.0 / nullif(old_amount, 0), 2),
      d.expected_gap, d.inputs, coalesce(nullif(btrim(d.reason), ''), 'no reason given'), p_mode,
      case when why is null and p_mode <> 'dry_run' then 'pending' else 'skipped' end,
      case when why is not null then why
           when p_mode = 'dry_run' then 'dry run: not sent to Google Ads' end,
      p_triggered_by,
      case when why is null and p_mode <> 'dry_run' then null else now() end)
    returning l.id, l.budget_resource_name, l.status, l.error
      into id, budget_resource_name, status, error;
    return next;
  end loop;
end
$$;
comment on function private.log_budget_decisions(uuid, date, text, text, text, jsonb) is
  'Write a run''s decisions to the audit log before anything is sent: the database sets each row''s '
  'segment, channel, old amount (its record of the budget) and action; rows that may go come back '
  'pending, the others skipped with why (private.change_refusal, the account and channel caps). Only by '
  'a run holding its lease.';
alter function private.log_budget_decisions(uuid, date, text, text, text, jsonb) owner to leadflow_money;

create or replace function private.claim_budget_decisions(p_run_id uuid, p_ids bigint[])
returns table (id bigint, budget_resource_name text, new_amount_micros bigint, status text, error text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  today date := private.today_nl();
  enabled boolean;
  cap bigint;
  total bigint;
  standing bigint;
  chan_caps jsonb;
  chan_totals jsonb := '{}'::jsonb;
  ch_cap bigint;
  ch_total bigint;
  r record;
  why text;
begin
  perform private.lock_money();
  perform private.check_run_holds_lease(p_run_id);
  select o.changes_enabled, round(o.account_daily_cap * 1000000)::bigint into enabled, cap
    from public.orchestration_settings o;
  chan_caps := private.channel_caps();
  if cap is not null then
    total := (select coalesce(sum(sa.amount_micros), 0) from private.budget_standing_amounts() sa);
  end if;
  if chan_caps <> '{}'::jsonb then
    chan_totals := private.channel_standing_totals();
  end if;
  for r in
    select l.* from public.channel_orchestration_log l
     where l.id = any (p_ids) and l.run_id = p_run_id and l.status = 'pending'
     order by l.id
  loop
    why := case
             when not coalesce(enabled, false) then 'kill switch is on at send time: not sent'
             when r.action = 'hold' then 'a hold is never sent'
             else private.change_refusal(r.kind, r.mode, r.day, r.budget_resource_name, r.segment_id,
                                         r.old_amount_micros, r.new_amount_micros, r.expected_gap, r.id)
           end;
    ch_cap := (chan_caps ->> r.channel)::bigint;
    if why is null and (cap is not null or ch_cap is not null) and r.mode = 'live' then
      -- A raise counts from what the budget may stand at; a decrease only once the channel
      -- confirmed it (its record), so a refused one cannot make room.
      standing := private.budget_standing_amount(r.budget_resource_name);
      ch_total := coalesce((chan_totals ->> r.channel)::bigint, 0);
      if r.new_amount_micros > standing then
        if total + r.new_amount_micros - standing > cap then
          why := format('the day''s budgets would sum to %s micros, over the account daily cap of '
                        '%s micros: not sent', total + r.new_amount_micros - standing, cap);
        elsif ch_total + r.new_amount_micros - standing > ch_cap then
          why := format('the day''s %s budgets would sum to %s micros, over that channel''s daily cap '
                        'of %s micros: not sent', r.channel, ch_total + r.new_amount_micros - standing, ch_cap);
        else
          total := total + r.new_amount_micros - standing;
          chan_totals := jsonb_set(chan_totals, array[r.channel],
                                   to_jsonb(ch_total + r.new_amount_micros - standing));
        end if;
      end if;
    end if;
    update public.channel_orchestration_log l
       set status = case when why is null then 'sent' else 'skipped' end,
           error = why,
           sent_on = case when why is null then today end,
           claimed_at = case when why is null then now() end,
           completed_at = case when why is null then null else now() end
     where l.id = r.id;
    id := r.id;
    budget_resource_name := r.budget_resource_name;
    new_amount_micros := r.new_amount_micros;
    status := case when why is null then 'sent' else 'skipped' end;
    error := why;
    return next;
  end loop;
end
$$;
comment on function private.claim_budget_decisions(uuid, bigint[]) is
  'The gate: claim a run''s pending rows for sending, re-checking at this moment the kill switch, the '
  'lease, private.change_refusal (mapping, active flags, bounds, daily limit of the base and of external '
  'changes, one change a day, budgets in doubt, the channel''s kill switch), the account daily cap and '
  'the channel''s. Claimed rows come back sent '
  '(send them within private.send_window()), the others skipped with why.';
alter function private.claim_budget_decisions(uuid, bigint[]) owner to leadflow_money;

drop function public.rollback_candidates(date);
create or replace function public.rollback_candidates(p_day date)
returns table (segment_id uuid, channel text, customer_id text, campaign_id text,
               budget_resource_name text, restore_amount_micros bigint, changed_amount_micros bigint,
               log_id bigint)
language sql stable
set search_path = ''
as $$
  select distinct on (l.budget_resource_name)
         l.segment_id, l.channel, l.customer_id, l.campaign_id, l.budget_resource_name,
         private.budget_day_reference(l.budget_resource_name, p_day), l.new_amount_micros, l.id
  from public.channel_orchestration_log l
  where l.sent_on = p_day and l.kind = 'adjust' and l.mode = 'live' and l.status = 'success'
    and l.action <> 'hold'
    and not exists (
      select 1 from public.channel_orchestration_log r
      where r.day = p_day and r.kind = 'rollback' and r.mode = 'live' and r.status = 'success'
        and r.budget_resource_name = l.budget_resource_name
    )
  order by l.budget_resource_name, l.id
$$;
comment on function public.rollback_candidates(date) is
  'Budgets changed live on a day (any channel) and not yet rolled back, with the amount they had when the day '
  'began.';
revoke execute on function public.rollback_candidates(date) from public, anon, authenticated;
grant execute on function public.rollback_candidates(date) to service_role;

-- ---------------------------------------------------------------------------
-- Response curves and the controller's inputs per channel
-- ---------------------------------------------------------------------------
alter table public.segment_response_estimates
  add column channel text not null default 'google_ads' references public.ad_channels (key),
  drop constraint segment_response_estimates_pkey;
alter table public.segment_response_estimates
  alter column channel drop default,
  add constraint segment_response_estimates_pkey primary key (segment_id, channel, day);
create index segment_response_estimates_channel_idx on public.segment_response_estimates (channel);
comment on table public.segment_response_estimates is
  'Per segment, paid channel and day: value of an accepted lead (the segment''s) and the channel''s '
  'spend -> paid leads curve '
  '(paid leads/day = scale x spend ^ elasticity, spend in euro/day), elasticity with its standard '
  'deviation, pooled toward the industry''s and province''s on the same channel when the segment''s own '
  'data say little. '
  'Written by estimate_segment_responses; admin-only. See docs/FORMULAS.md.';
create or replace function public.estimate_segment_responses(p_day date)
returns integer
language sql
security definer
set search_path = ''
as $$
  with params as (
    select o.prior_elasticity as e0, o.elasticity_spread as tau,
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
    from (select d.*, ntile(2) over (partition by d.segment_id, d.channel order by d.spend) as half
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
  industry_pool as (
    -- Precision-weighted mean of the industry's segments on the channel and the prior.
    select w.industry_id, w.channel,
           (p.e0 / p.tau ^ 2 + coalesce(sum(w.slope / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / p.tau ^ 2 + coalesce(sum(1 / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w cross join params p
    group by w.industry_id, w.channel, p.e0, p.tau
  ),
  province_pool as (
    select w.region_code, w.channel,
           (p.e0 / p.tau ^ 2 + coalesce(sum(w.slope / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0))
           / (1 / p.tau ^ 2 + coalesce(sum(1 / (w.var + p.tau ^ 2)) filter (where w.var is not null), 0)) as e
    from with_own w cross join params p
    group by w.region_code, w.channel, p.e0, p.tau
  ),
  posterior as (
    select w.segment_id, w.channel, w.industry_id, w.n, w.slope, w.var,
           (ip.e + pp.e) / 2 as pooled,
           case when w.var is null then (ip.e + pp.e) / 2
                else (w.slope / w.var + (ip.e + pp.e) / 2 / p.tau ^ 2) / (1 / w.var + 1 / p.tau ^ 2)
           end as e,
           case when w.var is null then p.tau
                else sqrt(1 / (1 / w.var + 1 / p.tau ^ 2)) end as sd
    from with_own w
    cross join params p
    join industry_pool ip on ip.industry_id = w.industry_id and ip.channel = w.channel
    join province_pool pp on pp.region_code = w.region_code and pp.channel = w.channel
  ),
  scaled as (
    -- Scale at the estimated elasticity over the last scale_window_days (recent: costs drift).
    select po.segment_id, po.channel,
           sum(d.conversions)
             / nullif(sum(power(d.spend::float8, least(greatest(po.e, p.e_min), p.e_max)::float8)::numeric), 0) as scale
    from posterior po
    cross join params p
    join daily d on d.segment_id = po.segment_id and d.channel = po.channel
      and d.day >= p_day - p.sw and d.spend > 0
    group by po.segment_id, po.channel
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

drop function public.orchestration_inputs(date);
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
           coalesce(cs.leads_generated, 0) as leads, coalesce(cs.spend, 0) as spend
    from public.lead_generation_stats st
    cross join settings se
    join curves c on c.segment_id = st.segment_id
    left join public.lead_channel_stats cs
      on cs.segment_id = st.segment_id and cs.day = st.day and cs.channel = c.channel
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
  actuals as (
    -- Paid leads per day on the channel at the week's spend: the last scale_window_days (two
    -- weeks: half the noise of one), each day's paid leads scaled to that spend along the
    -- channel's curve (a budget change counts at once). A day without spend counts as it was.
    select cd.segment_id, cd.channel,
           avg(cd.leads * case
                 when cd.spend > 0 and ws.spend > 0
                 then power((ws.spend / cd.spend)::float8, coalesce(r.elasticity, se.prior_elasticity)::float8)::numeric
                 else 1 end) as paid,
           ws.spend
    from channel_days cd
    cross join settings se
    join week_spend ws on ws.segment_id = cd.segment_id and ws.channel = cd.channel
    left join response r on r.segment_id = cd.segment_id and r.channel = cd.channel
    where cd.day >= p_day - se.scale_window_days
    group by cd.segment_id, cd.channel, ws.spend
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
  at_current_spend as (
    -- The segment's trailing week: leads not from a steered channel as they were, plus each
    -- steered channel's at yesterday's spend.
    select st.segment_id,
           avg(st.leads_generated - coalesce(cs.steered, 0)) as organic
    from public.lead_generation_stats st
    cross join settings se
    left join lateral (
      select sum(x.leads_generated) as steered
      from public.lead_channel_stats x
      join curves c on c.segment_id = x.segment_id and c.channel = x.channel
      where x.segment_id = st.segment_id and x.day = st.day
    ) cs on true
    where st.day >= p_day - se.steering_window_days and st.day < p_day
    group by st.segment_id
  ),
  expected as (
    select a.segment_id, a.organic,
           a.organic + coalesce((select sum(pn.paid) from paid_now pn where pn.segment_id = a.segment_id), 0)
             as expected
    from at_current_spend a
  ),
  pattern as (
    -- The forecast: per industry and kind of day (ISO weekday 1-7; 0 a public holiday), its
    -- leads (all channels) and days over the response window.
    select s.industry_id,
           case when h.day is not null then 0 else extract(isodow from st.day)::integer end as kind,
           sum(st.leads_generated) as leads, count(distinct st.day) as days
    from public.lead_generation_stats st
    join public.lead_segments s on s.id = st.segment_id
    left join public.public_holidays h on h.day = st.day
    cross join settings se
    where st.day >= p_day - se.response_window_days and st.day < p_day
    group by s.industry_id, 2
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
    select st.segment_id, max(st.day) as day
    from public.lead_generation_stats st
    where st.day < p_day and st.day >= p_day - 60
    group by st.segment_id
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

-- ---------------------------------------------------------------------------
-- The day's picture, and the same per channel
-- ---------------------------------------------------------------------------
create view public.lead_segment_days with (security_invoker = true) as
select p.segment_id, p.day, p.capacity, p.acceptance_rate, p.target_leads, p.actual_leads, p.lead_gap,
       st.leads_accepted, st.leads_rejected, st.leads_pending, st.leads_paid,
       st.leads_generated - st.leads_paid as leads_organic,
       st.revenue, st.ad_spend, st.cpl,
       d.budgets, d.planned_budget_micros, d.expected_gap, d.budget_action, d.budget_status,
       d.decided_at
from public.lead_segment_plans p
left join public.lead_generation_stats st on st.segment_id = p.segment_id and st.day = p.day
cross join lateral (
  select count(*)::integer as budgets,
         sum(x.new_amount_micros)::bigint as planned_budget_micros,
         max(x.expected_gap) as expected_gap,
         case when count(distinct x.action) > 1 then 'mixed' else min(x.action) end as budget_action,
         (array_agg(x.status order by array_position(
            array['failed', 'unknown', 'sent', 'pending', 'success', 'skipped'], x.status)))[1]
           as budget_status,
         max(x.created_at) as decided_at
  from (select distinct on (l.budget_resource_name) l.action, l.status, l.new_amount_micros,
               l.expected_gap, l.created_at
        from public.channel_orchestration_log l
        where l.segment_id = p.segment_id and l.day = p.day and l.kind = 'adjust'
        order by l.budget_resource_name, l.id desc) x
) d;

comment on view public.lead_segment_days is
  'One row per segment per planned day: the plan (target, actual, gap), the day''s stats, and the '
  'latest adjustment of each of the segment''s budgets that day. Money: service role only.';
comment on column public.lead_segment_days.leads_organic is 'Leads not from a paid channel (SEO, microsite, other).';
comment on column public.lead_segment_days.budgets is 'Budgets of the segment decided for the day (0: none yet).';
comment on column public.lead_segment_days.planned_budget_micros is
  'Sum of the latest decided daily amount of each budget (micros): what the orchestrator set or would set.';
comment on column public.lead_segment_days.expected_gap is 'The largest expected_gap of those decisions.';
comment on column public.lead_segment_days.budget_action is
  'increase, decrease or hold (the log''s words); mixed when the segment''s budgets were moved differently.';
comment on column public.lead_segment_days.budget_status is
  'The log''s status of those decisions, the least settled first: failed, unknown, sent, pending, success, skipped.';

revoke all on table public.lead_segment_days from public, anon, authenticated;
grant select on table public.lead_segment_days to service_role;

-- -----------------------------------------------------------------------------
-- lead_segment_channel_days: the same day per paid channel (rows, not columns)
-- -----------------------------------------------------------------------------
-- Per plan and paid channel the segment steers: the planned budget (the latest decided
-- amount of each of its budgets on the channel), the paid leads the decision expected from
-- the channel (its share of the segment's paid target, from the log's inputs), and what
-- the channel delivered (leads, spend).
create view public.lead_segment_channel_days with (security_invoker = true) as
select p.segment_id, p.day, c.channel,
       cs.leads_generated as leads, cs.leads_accepted, cs.spend,
       d.budgets, d.planned_budget_micros, d.expected_paid_leads, d.budget_action, d.decided_at
from public.lead_segment_plans p
join (select distinct cb.segment_id, cb.channel from public.segment_campaign_budgets cb) c
  on c.segment_id = p.segment_id
left join public.lead_channel_stats cs
  on cs.segment_id = p.segment_id and cs.day = p.day and cs.channel = c.channel
cross join lateral (
  select count(*)::integer as budgets,
         sum(x.new_amount_micros)::bigint as planned_budget_micros,
         round(sum((x.inputs ->> 'channel_target_paid_leads')::numeric), 2) as expected_paid_leads,
         case when count(distinct x.action) > 1 then 'mixed' else min(x.action) end as budget_action,
         max(x.created_at) as decided_at
  from (select distinct on (l.budget_resource_name) l.action, l.new_amount_micros, l.inputs, l.created_at
        from public.channel_orchestration_log l
        where l.segment_id = p.segment_id and l.day = p.day and l.kind = 'adjust'
          and l.channel = c.channel
        order by l.budget_resource_name, l.id desc) x
) d;

comment on view public.lead_segment_channel_days is
  'One row per segment, planned day and paid channel it steers: the planned budget on the channel, '
  'the paid leads expected from it (its share of the segment''s paid target), and its leads and spend. '
  'Money: service role only.';
comment on column public.lead_segment_channel_days.planned_budget_micros is
  'Sum of the latest decided daily amount of each of the segment''s budgets on the channel (micros).';
comment on column public.lead_segment_channel_days.expected_paid_leads is
  'Paid leads the decisions planned on this channel for the day: its share of the segment''s paid target '
  'by marginal cost (the whole paid target on a single-channel segment).';

revoke all on table public.lead_segment_channel_days from public, anon, authenticated;
grant select on table public.lead_segment_channel_days to service_role;

-- As supabase/schemas/90_grants.sql: no API role executes a private helper unless granted
-- it by name.
revoke execute on all functions in schema private from public, anon;
