-- =============================================================================
-- The demo marketplace: tools only, never a migration.
--
-- `leadflow demo` and `leadflow simulate` load this file (as the database owner,
-- the way the local bootstrap is loaded) into their own embedded database. It
-- builds a synthetic marketplace (industries × provinces, partners with quotas,
-- segments with a Google Ads budget each) in one call, set-based from md5 hashes
-- of a seed, and inserts the leads its market model produces from per-day counts.
-- These functions refuse to touch a database that holds a real marketplace: they
-- run on an empty database, or on the demo's own. Loading is idempotent.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- demo_marketplace: which demo (if any) this database holds
-- -----------------------------------------------------------------------------
create table if not exists public.demo_marketplace (
  id boolean primary key default true check (id),
  seed integer not null,
  first_day date not null,
  last_day date not null,
  steer_from date not null,
  industries integer not null check (industries > 0),
  provinces integer not null check (provinces > 0),
  mode text not null check (mode in ('live', 'dry_run')),
  status text not null default 'building' check (status in ('building', 'complete')),
  summary jsonb not null default '{}'::jsonb,
  generated_at timestamptz not null default now(),
  completed_at timestamptz,
  check (first_day <= steer_from and steer_from <= last_day),
  check ((status = 'complete') = (completed_at is not null))
);
comment on table public.demo_marketplace is
  'The synthetic marketplace `leadflow demo` built in this database (one row), or none. Admin-only.';
comment on column public.demo_marketplace.id is 'Always true: the table holds at most one row.';
comment on column public.demo_marketplace.seed is 'Seed of every pseudo-random choice: same seed, same marketplace.';
comment on column public.demo_marketplace.first_day is 'First Dutch day with leads.';
comment on column public.demo_marketplace.last_day is 'The demo''s "today": planned and orchestrated, no leads yet.';
comment on column public.demo_marketplace.steer_from is 'First day Leadflow orchestrated in the demo''s mode; before it, hand-set budgets.';
comment on column public.demo_marketplace.industries is 'Number of industries generated.';
comment on column public.demo_marketplace.provinces is 'Number of provinces generated.';
comment on column public.demo_marketplace.mode is 'live (against the simulated Google Ads) or dry_run.';
comment on column public.demo_marketplace.status is 'building until the daily loop reached last_day, then complete.';
comment on column public.demo_marketplace.summary is 'What was generated: counts of industries, segments, partners, subscriptions.';
comment on column public.demo_marketplace.generated_at is 'When the marketplace was generated.';
comment on column public.demo_marketplace.completed_at is 'When the daily loop reached last_day; null while building.';

alter table public.demo_marketplace enable row level security;
revoke all on table public.demo_marketplace from anon, authenticated;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant select, insert, update, delete on table public.demo_marketplace to service_role;
drop policy if exists "Admins can read the demo record" on public.demo_marketplace;
create policy "Admins can read the demo record"
  on public.demo_marketplace for select to authenticated
  using ((select private.is_admin()));

-- -----------------------------------------------------------------------------
-- Helpers
-- -----------------------------------------------------------------------------
create or replace function private.demo_hash(p_key text) returns double precision
language sql immutable
set search_path = ''
as $$
  select ('x' || substr(md5(p_key), 1, 8))::bit(32)::bigint / 4294967296.0
$$;
comment on function private.demo_hash(text) is
  'A deterministic pseudo-random number in [0, 1) from a text key (md5); the demo''s only randomness.';

create or replace function private.demo_add_users(p_users jsonb) returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  added integer;
begin
  if not exists (select 1 from public.demo_marketplace) then
    raise exception 'demo_add_users: this database holds no demo marketplace' using errcode = '22023';
  end if;
  insert into auth.users (id, email)
  select u.id, u.email from jsonb_to_recordset(p_users) as u (id uuid, email text)
  on conflict (id) do nothing;
  get diagnostics added = row_count;
  return added;
end
$$;
comment on function private.demo_add_users(jsonb) is
  'Create the demo partners'' auth users [{id, email}] (auth.users is not the service role''s to write). '
  'Only while a demo marketplace is being built.';
revoke execute on function private.demo_add_users(jsonb) from public, anon, authenticated;
grant execute on function private.demo_add_users(jsonb) to service_role;

-- -----------------------------------------------------------------------------
-- The generator
-- -----------------------------------------------------------------------------
create or replace function public.demo_generate_marketplace(
  p_seed integer,
  p_first_day date,
  p_last_day date,
  p_steer_from date,
  p_mode text,
  p_industries jsonb,
  p_provinces jsonb,
  p_partner_density numeric default 2.0
)
returns jsonb
language plpgsql
-- Definer (the local database's owner): it maps the demo's budgets, which the service role
-- may not (segment_campaign_budgets is admin-written).
security definer
set search_path = ''
as $$
declare
  n_provinces integer;
  n_industries integer;
  v_summary jsonb;
begin
  if p_seed is null or p_first_day is null or p_last_day is null or p_steer_from is null
     or not (p_first_day <= p_steer_from and p_steer_from <= p_last_day) then
    raise exception 'demo_generate_marketplace needs a seed and first_day <= steer_from <= last_day'
      using errcode = '22023';
  end if;
  if exists (select 1 from public.demo_marketplace) then
    raise exception 'this database already holds a demo marketplace; start from an empty database'
      using errcode = '22023';
  end if;
  if exists (select 1 from public.leads) or exists (select 1 from public.lead_segments)
     or exists (select 1 from public.subscriptions) or exists (select 1 from public.industries) then
    raise exception 'this database holds a marketplace (industries, segments, subscriptions or leads); '
                    'the demo only builds on an empty database'
      using errcode = '22023';
  end if;

  create temporary table demo_industry on commit drop as
  select e.ord::integer as ord, e.value ->> 'slug' as slug, e.value ->> 'name' as name,
         (e.value ->> 'weight')::numeric as weight, (e.value ->> 'target_cpl')::numeric as target_cpl
  from jsonb_array_elements(p_industries) with ordinality as e (value, ord);
  create temporary table demo_province on commit drop as
  select e.ord::integer as ord, r.code, (e.value ->> 'population')::numeric as population
  from jsonb_array_elements(p_provinces) with ordinality as e (value, ord)
  join public.regions r on r.code = e.value ->> 'code';
  select count(*) into n_industries from pg_temp.demo_industry;
  select count(*) into n_provinces from pg_temp.demo_province;
  if n_industries = 0 or n_provinces = 0
     or n_provinces <> jsonb_array_length(p_provinces) then
    raise exception 'demo_generate_marketplace needs industries and known province codes'
      using errcode = '22023';
  end if;

  insert into public.demo_marketplace (seed, first_day, last_day, steer_from, industries, provinces, mode)
  values (p_seed, p_first_day, p_last_day, p_steer_from, n_industries, n_provinces, p_mode);

  insert into public.industries (id, slug, name)
  select md5(concat_ws(':', 'industry', p_seed, i.slug))::uuid, i.slug, i.name
  from pg_temp.demo_industry i;

  -- Partners: per industry and home province, about density × weight × population (millions)
  -- of them and at least one; each covers 1-3 provinces that follow its home in the list
  -- (neighbours on the map).
  create temporary table demo_partner on commit drop as
  with slots as (
    select i.ord as i_ord, i.slug, p.ord as p_ord, p.code as home,
           greatest(1, round(p_partner_density * i.weight * p.population
                 * (0.6 + 0.8 * private.demo_hash(concat_ws(':', p_seed, 'partners', i.slug, p.code)))))::integer
             as n
    from pg_temp.demo_industry i cross join pg_temp.demo_province p
  ),
  partners as (
    select s.*, g.k,
           concat_ws(':', p_seed, 'partner', s.slug, s.home, g.k) as key
    from slots s cross join lateral generate_series(1, s.n) as g (k)
  )
  select md5(p.key)::uuid as id, p.i_ord, p.slug, p.p_ord, p.home, p.k,
         private.demo_hash(p.key || ':cover') as h_cover,
         private.demo_hash(p.key || ':quota') as h_quota,
         private.demo_hash(p.key || ':status') as h_status,
         private.demo_hash(p.key || ':when') as h_when,
         private.demo_hash(p.key || ':name') as h_name
  from partners p;

  perform private.demo_add_users(coalesce(jsonb_agg(jsonb_build_object(
            'id', p.id, 'email', format('%s-%s-%s@partners.demo.example', replace(p.slug, '_', '-'),
                                        replace(p.home, '_', '-'), p.k))), '[]'::jsonb))
  from pg_temp.demo_partner p;

  insert into public.profiles (id, role, company_name, email)
  select p.id, 'partner',
         (array['De Vries', 'Jansen', 'Van den Berg', 'Bakker', 'Visser', 'Smit', 'Meijer', 'De Boer',
                'Mulder', 'De Groot', 'Bos', 'Vos', 'Peters', 'Hendriks', 'Van Leeuwen', 'Dekker',
                'Brouwer', 'De Wit', 'Dijkstra', 'Smits'])[1 + floor(p.h_name * 20)::integer]
           || ' ' || i.name || ' ' || r.name,
         format('%s-%s-%s@partners.demo.example', replace(p.slug, '_', '-'), replace(p.home, '_', '-'), p.k)
  from pg_temp.demo_partner p
  join pg_temp.demo_industry i on i.ord = p.i_ord
  join public.regions r on r.code = p.home;
  perform private.demo_add_users(jsonb_build_array(jsonb_build_object(
    'id', md5(concat_ws(':', 'admin', p_seed))::uuid, 'email', 'admin@leadflow.demo.example')));
  insert into public.profiles (id, role, company_name, email)
  values (md5(concat_ws(':', 'admin', p_seed))::uuid, 'admin', 'Leadflow operations (demo)',
          'admin@leadflow.demo.example');

  -- Subscriptions: most run through the whole demo; a few start or end during it
  -- (capacity steps the planner has to follow), a few are paused.
  insert into public.subscriptions
    (id, partner_id, industry_id, region_codes, monthly_lead_quota, status, starts_on, ends_on)
  select md5(p.id::text || ':subscription')::uuid, p.id,
         md5(concat_ws(':', 'industry', p_seed, p.slug))::uuid,
         array(
           select pr.code from pg_temp.demo_province pr
           where (pr.ord - p.p_ord + n_provinces) % n_provinces
                 < case when n_provinces = 1 then 1
                        when p.h_cover < 0.6 then 1 when p.h_cover < 0.85 then 2 else 3 end
           order by (pr.ord - p.p_ord + n_provinces) % n_provinces),
         10 + 5 * floor(p.h_quota * 11)::integer,
         case when p.h_status >= 0.97 then 'paused' else 'active' end,
         case when p.h_status >= 0.93 and p.h_status < 0.97
                then p_first_day + floor(p.h_when * (p_last_day - p_first_day))::integer
              else p_first_day - 30 - floor(p.h_when * 700)::integer end,
         case when p.h_status >= 0.90 and p.h_status < 0.93
                then p_first_day + floor(p.h_when * (p_last_day - p_first_day))::integer end
  from pg_temp.demo_partner p;

  -- Segments: every industry in every province. The highest daily budget is what 1.5 times
  -- the leads the partners can take would cost at the target CPL (at least 50 euro).
  insert into public.lead_segments
    (id, code, name, industry_id, region_code, min_daily_budget, max_daily_budget, target_cpl)
  select md5(concat_ws(':', 'segment', p_seed, i.slug, pr.code))::uuid,
         i.slug || '_' || pr.code,
         i.name || ' ' || r.name,
         md5(concat_ws(':', 'industry', p_seed, i.slug))::uuid,
         pr.code,
         5,
         greatest(50, ceil(coalesce(cap.monthly, 0) / 21 / 0.75 * i.target_cpl * 1.5 / 10) * 10),
         i.target_cpl
  from pg_temp.demo_industry i
  cross join pg_temp.demo_province pr
  join public.regions r on r.code = pr.code
  left join (
    select sub.industry_id, c.code,
           sum(sub.monthly_lead_quota::numeric / cardinality(sub.region_codes)) as monthly
    from public.subscriptions sub
    cross join unnest(sub.region_codes) as c (code)
    where sub.status = 'active'
    group by sub.industry_id, c.code
  ) cap on cap.industry_id = md5(concat_ws(':', 'industry', p_seed, i.slug))::uuid and cap.code = pr.code;

  -- One Google Ads campaign and budget per segment, in one demo account.
  insert into public.segment_campaign_budgets (segment_id, customer_id, campaign_id, budget_resource_name)
  select s.id, '1234567890', (700000 + s.n)::text,
         'customers/1234567890/campaignBudgets/' || (900000 + s.n)
  from (select s.id, row_number() over (order by s.code) as n from public.lead_segments s) s;

  select jsonb_build_object(
           'industries', n_industries,
           'provinces', n_provinces,
           'segments', (select count(*) from public.lead_segments),
           'partners', (select count(*) from pg_temp.demo_partner),
           'subscriptions', (select count(*) from public.subscriptions),
           'multi_province_subscriptions',
             (select count(*) from public.subscriptions where cardinality(region_codes) > 1))
    into v_summary;
  update public.demo_marketplace set summary = v_summary where id;  -- safeupdate: a WHERE
  return v_summary;
end
$$;
comment on function public.demo_generate_marketplace(integer, date, date, date, text, jsonb, jsonb, numeric) is
  'Build the demo marketplace on an empty database, set-based and deterministic from the seed: '
  'industries [{slug, name, weight, target_cpl}] × provinces [{code, population}], partners with '
  'quotas (some covering several provinces), segments with budget bounds, one campaign budget each. '
  'Returns counts.';
revoke execute on function public.demo_generate_marketplace(integer, date, date, date, text, jsonb, jsonb, numeric)
  from public, anon, authenticated;
grant execute on function public.demo_generate_marketplace(integer, date, date, date, text, jsonb, jsonb, numeric)
  to service_role;

-- A Microsoft Advertising campaign budget beside the Google Ads one, for a share of the
-- segments (drawn from the seed), in one demo account: the demo's second paid channel.
create or replace function public.demo_map_microsoft_budgets(p_account_id text, p_share numeric)
returns integer
language plpgsql
-- Definer, as demo_generate_marketplace: segment_campaign_budgets is admin-written.
security definer
set search_path = ''
as $$
declare
  v_seed integer;
  mapped integer;
begin
  select m.seed into v_seed from public.demo_marketplace m;
  if not found then
    raise exception 'demo_map_microsoft_budgets: this database holds no demo marketplace'
      using errcode = '22023';
  end if;
  if p_share is null or p_share < 0 or p_share > 1 or p_account_id !~ '^[0-9]+$' then
    raise exception 'demo_map_microsoft_budgets needs an account id (digits) and a share in 0..1'
      using errcode = '22023';
  end if;
  insert into public.segment_campaign_budgets
    (segment_id, channel, customer_id, campaign_id, budget_resource_name)
  select s.id, 'microsoft_ads', p_account_id, (800000 + s.n)::text,
         'accounts/' || p_account_id || '/budgets/' || (950000 + s.n)
  from (select s.id, s.code, row_number() over (order by s.code) as n from public.lead_segments s) s
  where private.demo_hash(concat_ws(':', v_seed, 'microsoft', s.code)) < p_share
    and not exists (select 1 from public.segment_campaign_budgets b
                    where b.segment_id = s.id and b.channel = 'microsoft_ads');
  get diagnostics mapped = row_count;
  return mapped;
end
$$;
comment on function public.demo_map_microsoft_budgets(text, numeric) is
  'Map a Microsoft Advertising budget (accounts/{account}/budgets/{id}) beside the Google Ads one for '
  'p_share of the demo''s segments (chosen from the seed). Only in a demo database. Returns how many.';
revoke execute on function public.demo_map_microsoft_budgets(text, numeric) from public, anon, authenticated;
grant execute on function public.demo_map_microsoft_budgets(text, numeric) to service_role;

create or replace function public.demo_marketplace_get()
returns table (
  seed integer, first_day date, last_day date, steer_from date, industries integer,
  provinces integer, mode text, status text, summary jsonb, generated_at timestamptz,
  completed_at timestamptz
)
language sql stable
set search_path = ''
as $$
  select m.seed, m.first_day, m.last_day, m.steer_from, m.industries, m.provinces, m.mode,
         m.status, m.summary, m.generated_at, m.completed_at
  from public.demo_marketplace m
$$;
comment on function public.demo_marketplace_get() is 'The demo this database holds (no row: none).';
revoke execute on function public.demo_marketplace_get() from public, anon, authenticated;
grant execute on function public.demo_marketplace_get() to service_role;

create or replace function public.demo_marketplace_complete() returns void
language sql
set search_path = ''
as $$
  update public.demo_marketplace set status = 'complete', completed_at = now() where status = 'building'
$$;
comment on function public.demo_marketplace_complete() is 'Mark the demo complete: its daily loop reached last_day.';
revoke execute on function public.demo_marketplace_complete() from public, anon, authenticated;
grant execute on function public.demo_marketplace_complete() to service_role;

-- Its columns grew a channel: a reused demo database gets the new shape.
drop function if exists public.demo_market_segments();
create or replace function public.demo_market_segments()
returns table (
  segment_id uuid,
  code text,
  industry text,
  region_code text,
  channel text,
  customer_id text,
  campaign_id text,
  budget_resource_name text,
  min_budget_micros bigint,
  max_budget_micros bigint,
  target_cpl_micros bigint,
  accepted_per_day numeric
)
language sql stable
set search_path = ''
as $$
  with m as (select * from public.demo_marketplace),
  cap as (
    select c.segment_id, sum(c.capacity) / (max(m.last_day) - max(m.first_day) + 1) as per_day
    from m, public.segment_capacity(m.first_day, m.last_day) c
    group by c.segment_id
  )
  select s.id, s.code, i.slug, s.region_code, cb.channel, cb.customer_id, cb.campaign_id,
         cb.budget_resource_name,
         round(s.min_daily_budget * 1000000)::bigint, round(s.max_daily_budget * 1000000)::bigint,
         round(s.target_cpl * 1000000)::bigint, round(coalesce(cap.per_day, 0), 4)
  from public.lead_segments s
  join public.industries i on i.id = s.industry_id
  join public.segment_campaign_budgets cb on cb.segment_id = s.id and cb.is_active
  left join cap on cap.segment_id = s.id
  where s.is_active and exists (select 1 from m)
  order by s.code, (select c.sort_order from public.ad_channels c where c.key = cb.channel), cb.channel,
           cb.budget_resource_name
$$;
comment on function public.demo_market_segments() is
  'The demo''s segments as its market model needs them, one row per active campaign budget (Google Ads '
  'first, then the other channels): channel, budget, bounds, target CPL, and the accepted leads per '
  'calendar day partner capacity allows over the demo period.';
revoke execute on function public.demo_market_segments() from public, anon, authenticated;
grant execute on function public.demo_market_segments() to service_role;

-- -----------------------------------------------------------------------------
-- demo_lead_verdicts: when the partner will decide on a pending simulated lead, and how
-- -----------------------------------------------------------------------------
create table if not exists public.demo_lead_verdicts (
  lead_id uuid primary key,
  decide_at timestamptz not null,
  accepted boolean not null
);
create index if not exists demo_lead_verdicts_decide_at_idx on public.demo_lead_verdicts (decide_at);
comment on table public.demo_lead_verdicts is
  'The simulation''s pending leads: when the partner decides (decide_at) and whether it accepts, '
  'both drawn from the lead when it was inserted; `leadflow simulate` applies and deletes the due '
  'rows each morning. Admin-only.';
comment on column public.demo_lead_verdicts.lead_id is 'The pending lead (public.leads.id).';
comment on column public.demo_lead_verdicts.decide_at is 'When its partner accepts or rejects it.';
comment on column public.demo_lead_verdicts.accepted is 'Whether the partner accepts it.';
alter table public.demo_lead_verdicts enable row level security;
revoke all on table public.demo_lead_verdicts from anon, authenticated;
grant select, insert, update, delete on table public.demo_lead_verdicts to service_role;

-- The verdicts' delay range is a new argument: the three-argument function goes, so that a
-- call naming three arguments finds one function.
drop function if exists public.demo_insert_leads(jsonb, jsonb, date);

-- -----------------------------------------------------------------------------
-- Leads from counts
-- -----------------------------------------------------------------------------
create or replace function public.demo_insert_leads(
  p_counts jsonb,
  p_segments jsonb,
  p_pending_from date default null,
  p_delay_low double precision default null,
  p_delay_high double precision default null
)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_seed integer;
  inserted integer;
begin
  select m.seed into v_seed from public.demo_marketplace m;
  if not found then
    raise exception 'demo_insert_leads: this database holds no demo marketplace' using errcode = '22023';
  end if;
  if jsonb_typeof(p_counts) is distinct from 'array' or jsonb_typeof(p_segments) is distinct from 'array' then
    raise exception 'demo_insert_leads needs arrays of counts and segments' using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_counts) as c (channel text, leads integer)
    where c.channel not in ('google_ads', 'microsoft_ads', 'seo', 'microsite') or c.leads is null
       or c.leads < 0
  ) then
    raise exception 'demo_insert_leads: channel must be google_ads, microsoft_ads, seo or microsite, '
      'leads >= 0'
      using errcode = '22023';
  end if;

  if (p_delay_low is null) <> (p_delay_high is null) or p_delay_low < 0 or p_delay_high < p_delay_low then
    raise exception 'demo_insert_leads: the delay needs 0 <= low <= high days, or neither'
      using errcode = '22023';
  end if;

  with segments as (
    -- Read once: the leads' price and status, and the pending ones' verdicts.
    select * from jsonb_to_recordset(p_segments)
      as seg (segment_id uuid, acceptance_rate numeric, price numeric)
  ),
  -- One md5 per lead gives three independent numbers in [0, 1): h[1] time of day,
  -- h[2] pending, h[3] accepted; the md5 itself is the click id.
  inserted as (
  insert into public.leads
    (industry_id, region_code, status, price, gclid, msclkid, utm_source, utm_medium, utm_campaign,
     utm_term, created_at)
  select s.industry_id, s.region_code,
         case when p_pending_from is not null and c.day >= p_pending_from and k.h[2] < 0.55
                then 'pending'
              when k.h[3] < seg.acceptance_rate then 'accepted'
              else 'rejected' end,
         seg.price,
         case when c.channel = 'google_ads' then 'demo-' || k.md5 end,
         case when c.channel = 'microsoft_ads' then 'demo-' || k.md5 end,
         case c.channel when 'microsite' then 'microsite' when 'microsoft_ads' then 'bing' else 'google' end,
         case c.channel when 'google_ads' then 'cpc' when 'microsoft_ads' then 'cpc'
                        when 'seo' then 'organic' else 'microsite' end,
         case c.channel when 'google_ads' then cb.campaign_id
                        when 'microsoft_ads' then mb.campaign_id
                        when 'microsite' then 'microsite-' || s.industry_slug end,
         case when c.channel in ('google_ads', 'microsoft_ads')
              then lower(s.industry_name) || ' offerte ' || replace(s.region_code, '_', ' ') end,
         -- Requests come in between 07:00 and 23:00 Dutch time, more in the evening.
         (c.day::timestamp + interval '7 hours' + sqrt(k.h[1]) * interval '16 hours')
           at time zone 'Europe/Amsterdam'
  from jsonb_to_recordset(p_counts) as c (segment_id uuid, day date, channel text, leads integer, batch text)
  join segments seg on seg.segment_id = c.segment_id
  join (
    select s.id, s.industry_id, s.region_code, i.slug as industry_slug, i.name as industry_name
    from public.lead_segments s join public.industries i on i.id = s.industry_id
  ) s on s.id = c.segment_id
  left join (
    select distinct on (b.segment_id) b.segment_id, b.campaign_id
    from public.segment_campaign_budgets b where b.channel = 'google_ads'
    order by b.segment_id, b.campaign_id
  ) cb on cb.segment_id = s.id
  left join (
    select distinct on (b.segment_id) b.segment_id, b.campaign_id
    from public.segment_campaign_budgets b where b.channel = 'microsoft_ads'
    order by b.segment_id, b.campaign_id
  ) mb on mb.segment_id = s.id
  cross join lateral generate_series(1, c.leads) as g (n)
  cross join lateral (
    select m.md5,
           array[('x' || substr(m.md5, 1, 8))::bit(32)::bigint / 4294967296.0,
                 ('x' || substr(m.md5, 9, 8))::bit(32)::bigint / 4294967296.0,
                 ('x' || substr(m.md5, 17, 8))::bit(32)::bigint / 4294967296.0] as h
    from (select md5(concat_ws(':', v_seed, c.segment_id, c.day, c.channel, c.batch, g.n)) as md5) m
  ) k
  returning id, segment_id, status, created_at, utm_medium, coalesce(gclid, msclkid) as click_id
  ),
  -- With a delay range, each pending lead's partner decides after a delay within it, and
  -- accepts with the segment's acceptance rate: two hashes of what the lead is (its
  -- segment, arrival, medium and click id; its id is not the same in every strategy's
  -- database), so every strategy's same lead is decided alike at the same time.
  keyed as (
    select i.id, i.created_at, seg.acceptance_rate::double precision as rate,
           md5(concat_ws(':', i.segment_id, i.created_at, i.utm_medium, i.click_id)) as h
    from inserted i
    join segments seg on seg.segment_id = i.segment_id
    where i.status = 'pending' and p_delay_low is not null
  ),
  verdicts as (
    insert into public.demo_lead_verdicts (lead_id, decide_at, accepted)
    select k.id,
           k.created_at + make_interval(secs => 86400 * (p_delay_low + (p_delay_high - p_delay_low)
             * private.demo_hash(k.h || ':delay'))),
           private.demo_hash(k.h || ':verdict') < k.rate
    from keyed k
  )
  select count(*)::integer into inserted from inserted;
  return inserted;
end
$$;
comment on function public.demo_insert_leads(jsonb, jsonb, date, double precision, double precision) is
  'Insert demo leads from counts [{segment_id, day, channel, leads, batch}] with per-segment '
  '[{segment_id, acceptance_rate, price}]: time of day, status and click id from one md5 per lead; leads of '
  'days from p_pending_from on are partly still pending; with p_delay_low..p_delay_high (days) each '
  'pending lead also gets its partner''s verdict in demo_lead_verdicts. Only in a demo database. '
  'Returns the count.';
revoke execute on function public.demo_insert_leads(jsonb, jsonb, date, double precision, double precision) from public, anon, authenticated;
grant execute on function public.demo_insert_leads(jsonb, jsonb, date, double precision, double precision) to service_role;


-- -----------------------------------------------------------------------------
-- Extra partners (the simulation's capacity shocks)
-- -----------------------------------------------------------------------------
create or replace function public.demo_add_partners(p_partners jsonb) returns integer
language plpgsql
set search_path = ''
as $$
declare
  added integer;
begin
  -- p_partners: [{key, email, company_name, segment_id, monthly_quota, starts_on, ends_on}];
  -- one partner per entry, covering only the segment's province. Only in a demo database.
  if not exists (select 1 from public.demo_marketplace) then
    raise exception 'demo_add_partners: this database holds no demo marketplace' using errcode = '42501';
  end if;
  perform private.demo_add_users(
    (select jsonb_agg(jsonb_build_object('id', md5(p.key)::uuid, 'email', p.email))
       from jsonb_to_recordset(p_partners) as p (key text, email text)));
  insert into public.profiles (id, role, company_name, email)
  select md5(p.key)::uuid, 'partner', p.company_name, p.email
  from jsonb_to_recordset(p_partners) as p (key text, email text, company_name text);
  insert into public.subscriptions
    (partner_id, industry_id, region_codes, monthly_lead_quota, status, starts_on, ends_on)
  select md5(p.key)::uuid, s.industry_id, array[s.region_code], p.monthly_quota, 'active',
         p.starts_on, p.ends_on
  from jsonb_to_recordset(p_partners) as p (key text, segment_id uuid, monthly_quota integer,
                                            starts_on date, ends_on date)
  join public.lead_segments s on s.id = p.segment_id;
  get diagnostics added = row_count;
  return added;
end
$$;
comment on function public.demo_add_partners(jsonb) is
  'Add partners, each with one active subscription on one segment''s industry and province. Only in a demo database.';
revoke execute on function public.demo_add_partners(jsonb) from public, anon, authenticated;
grant execute on function public.demo_add_partners(jsonb) to service_role;

-- -----------------------------------------------------------------------------
-- The account's daily cap of a simulated market
-- -----------------------------------------------------------------------------
create or replace function public.demo_set_account_cap(p_cap numeric) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- The settings are the owner's to change (no API role may); only in a demo database.
  if not exists (select 1 from public.demo_marketplace) then
    raise exception 'demo_set_account_cap: this database holds no demo marketplace' using errcode = '42501';
  end if;
  update public.orchestration_settings set account_daily_cap = p_cap where id;
end
$$;
comment on function public.demo_set_account_cap(numeric) is
  'Set the account daily cap of a simulated market (null: none). Only in a demo database.';
revoke execute on function public.demo_set_account_cap(numeric) from public, anon, authenticated;
grant execute on function public.demo_set_account_cap(numeric) to service_role;
