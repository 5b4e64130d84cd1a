-- =============================================================================
-- Segments: regions, lead_segments, their Google Ads budgets, and how a lead
-- finds its segment. Also the authorization helpers every policy uses.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- Short locks on a live marketplace (docs/DEPLOY.md): give up rather than queue
-- behind a long transaction (and block every writer queued behind us).

-- -----------------------------------------------------------------------------
-- Authorization helpers (private, security definer, pinned search_path)
-- -----------------------------------------------------------------------------

-- The database's day: subscriptions, job windows and every money rule are cut on the
-- Amsterdam calendar day of the database's clock. Simulations pin it (one row); only
-- the database owner can.
create table private.clock (
  id boolean primary key default true check (id),
  today date not null
);
comment on table private.clock is
  'Empty in production. A simulation run by the database owner pins "today" here; no API role can read or write it.';
revoke all on table private.clock from public, anon, authenticated, service_role;

create or replace function private.today_nl() returns date
language sql stable
security definer
set search_path = ''
as $$
  select coalesce((select c.today from private.clock c),
                  (now() at time zone 'Europe/Amsterdam')::date)
$$;
comment on function private.today_nl() is
  'Today in the Netherlands by the database''s clock (pinned by private.clock in simulations).';

create or replace function private.is_admin() returns boolean
language sql stable security definer
set search_path = ''
as $$
  select coalesce((select auth.jwt() ->> 'role') = 'service_role', false)
      or exists (
           select 1 from public.profiles p
           where p.id = (select auth.uid()) and p.role = 'admin'
         )
$$;
comment on function private.is_admin() is
  'True for an admin profile or the service role: may see money and change segments.';

create or replace function private.has_profile() returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.profiles p
    where p.id = (select auth.uid()) and p.role in ('partner', 'admin')
  )
$$;
comment on function private.has_profile() is
  'True for a user with a partner or admin profile; a bare sign-up (token, no profile) is not.';

-- -----------------------------------------------------------------------------
-- regions: the 12 Dutch provinces
-- -----------------------------------------------------------------------------
create table public.regions (
  code text primary key check (code ~ '^[a-z][a-z_]*$'),
  name text not null unique
);
comment on table public.regions is 'Reference data: the 12 Dutch provinces, the second half of a segment code.';
comment on column public.regions.code is 'Lower-case code, e.g. noord_brabant.';
comment on column public.regions.name is 'Official province name.';

insert into public.regions (code, name) values
  ('drenthe', 'Drenthe'),
  ('flevoland', 'Flevoland'),
  ('friesland', 'Fryslân'),
  ('gelderland', 'Gelderland'),
  ('groningen', 'Groningen'),
  ('limburg', 'Limburg'),
  ('noord_brabant', 'Noord-Brabant'),
  ('noord_holland', 'Noord-Holland'),
  ('overijssel', 'Overijssel'),
  ('utrecht', 'Utrecht'),
  ('zeeland', 'Zeeland'),
  ('zuid_holland', 'Zuid-Holland')
on conflict (code) do nothing;

alter table public.regions enable row level security;
revoke all on table public.regions from anon, authenticated;
grant select on table public.regions to authenticated;
grant all on table public.regions to service_role;
create policy "Partners and admins can read regions"
  on public.regions for select to authenticated using ((select private.has_profile()));

-- -----------------------------------------------------------------------------
-- lead_segments
-- -----------------------------------------------------------------------------
create table public.lead_segments (
  id uuid primary key default gen_random_uuid(),
  code text not null unique check (code ~ '^[a-z][a-z0-9_]*$'),
  name text not null check (length(btrim(name)) > 0),
  industry_id uuid not null references public.industries (id),
  region_code text not null references public.regions (code),
  is_active boolean not null default true,
  min_daily_budget numeric(12, 2) not null default 0 check (min_daily_budget >= 0),
  max_daily_budget numeric(12, 2) not null check (max_daily_budget > 0),
  target_cpl numeric(12, 2) check (target_cpl is null or target_cpl > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (industry_id, region_code),
  check (min_daily_budget <= max_daily_budget)
);
create index lead_segments_region_code_idx on public.lead_segments (region_code);
create index lead_segments_active_idx on public.lead_segments (id) where is_active;

comment on table public.lead_segments is
  'A market Leadflow steers: one industry in one province, with its daily ad budget bounds.';
comment on column public.lead_segments.code is 'Unique code <industry slug>_<region code>, e.g. schilder_noord_brabant.';
comment on column public.lead_segments.name is 'Human-readable name shown in dashboards.';
comment on column public.lead_segments.industry_id is 'The industry (trade) of this segment.';
comment on column public.lead_segments.region_code is 'The province of this segment.';
comment on column public.lead_segments.is_active is 'Inactive segments are neither planned nor orchestrated.';
comment on column public.lead_segments.min_daily_budget is 'Lowest daily Google Ads budget (euro) the orchestrator may set. Admin-only.';
comment on column public.lead_segments.max_daily_budget is 'Highest daily Google Ads budget (euro) the orchestrator may set. Admin-only.';
comment on column public.lead_segments.target_cpl is 'Optional target cost per lead (euro). Admin-only.';

create or replace function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create trigger lead_segments_touch_updated_at
  before update on public.lead_segments
  for each row execute function private.touch_updated_at();

-- Segments whose plans and lead counts the caller may read: all for an admin,
-- those with an active subscription of the caller for a partner.
create or replace function private.readable_segment_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select s.id
  from public.lead_segments s
  where (select private.is_admin())
  union
  select s.id
  from public.lead_segments s
  join public.subscriptions sub
    on sub.industry_id = s.industry_id and s.region_code = any (sub.region_codes)
  where sub.partner_id = (select auth.uid())
    and sub.status = 'active'
    and sub.starts_on <= (select private.today_nl())
    and (sub.ends_on is null or sub.ends_on >= (select private.today_nl()))
$$;
comment on function private.readable_segment_ids() is
  'Segment ids whose plans and lead counts the caller may read (admin: all; partner: actively subscribed).';

alter table public.lead_segments enable row level security;
revoke all on table public.lead_segments from anon, authenticated;
-- Budget bounds and target CPL are money: partners never get them, so the
-- authenticated role may not select those columns at all. Admins read them
-- through the security definer read functions (see the API migration).
grant select (id, code, name, industry_id, region_code, is_active, created_at, updated_at)
  on table public.lead_segments to authenticated;
grant insert (code, name, industry_id, region_code, is_active, min_daily_budget, max_daily_budget, target_cpl)
  on table public.lead_segments to authenticated;
grant update (name, is_active, min_daily_budget, max_daily_budget, target_cpl)
  on table public.lead_segments to authenticated;
grant all on table public.lead_segments to service_role;

-- A valid token is not enough: with sign-up open anyone has one. Only users
-- with a marketplace profile (partners, admins) see segments.
create policy "Partners read active segments, admins all"
  on public.lead_segments for select to authenticated
  using ((is_active and (select private.has_profile())) or (select private.is_admin()));
create policy "Admins can create segments"
  on public.lead_segments for insert to authenticated
  with check ((select private.is_admin()));
create policy "Admins can change segments"
  on public.lead_segments for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

-- -----------------------------------------------------------------------------
-- segment_campaign_budgets: which Google Ads budget a segment steers
-- -----------------------------------------------------------------------------
create table public.segment_campaign_budgets (
  id uuid primary key default gen_random_uuid(),
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  customer_id text not null check (customer_id ~ '^[0-9]{10}$'),
  campaign_id text not null check (campaign_id ~ '^[0-9]+$'),
  budget_resource_name text not null unique
    check (budget_resource_name ~ '^customers/[0-9]{10}/campaignBudgets/[0-9]+$'),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  unique (customer_id, campaign_id),
  check (split_part(budget_resource_name, '/', 2) = customer_id)
);
create index segment_campaign_budgets_segment_id_idx on public.segment_campaign_budgets (segment_id);

comment on table public.segment_campaign_budgets is
  'Maps a segment to the Google Ads campaign budget(s) the orchestrator changes for it.';
comment on column public.segment_campaign_budgets.customer_id is 'Google Ads customer id, 10 digits without dashes.';
comment on column public.segment_campaign_budgets.campaign_id is 'Google Ads campaign id whose leads count for the segment.';
comment on column public.segment_campaign_budgets.budget_resource_name is
  'customers/{customer_id}/campaignBudgets/{budget_id}: the resource whose amount_micros is set.';
comment on column public.segment_campaign_budgets.is_active is 'Inactive mappings are not orchestrated.';

alter table public.segment_campaign_budgets enable row level security;
revoke all on table public.segment_campaign_budgets from anon, authenticated;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant all on table public.segment_campaign_budgets to service_role;
create policy "Admins manage campaign mappings"
  on public.segment_campaign_budgets for all to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create or replace function private.segment_campaigns_for_admin(p_segment_id uuid)
returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select case when (select private.is_admin()) then coalesce((
           select jsonb_agg(jsonb_build_object(
                    'id', b.id,
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
  'Admin-only: the segment''s Google Ads campaign mappings as a JSON array; null for anyone else.';

-- -----------------------------------------------------------------------------
-- leads: how a lead finds its segment and source (the columns and the trigger
-- are added to the existing table by 20261125000210_leads_segment_columns.sql)
-- -----------------------------------------------------------------------------
create or replace function private.lead_source_channel(
  p_gclid text, p_utm_source text, p_utm_medium text
) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when nullif(btrim(p_gclid), '') is not null then 'google_ads'
    when lower(p_utm_medium) in ('cpc', 'ppc', 'paid', 'paid_search', 'paidsearch', 'sem')
         and lower(coalesce(p_utm_source, 'google')) in ('google', 'adwords', 'google_ads', 'googleads')
      then 'google_ads'
    when lower(p_utm_source) = 'microsite' or lower(p_utm_medium) = 'microsite' then 'microsite'
    when lower(p_utm_medium) in ('organic', 'seo') then 'seo'
    else 'other'
  end
$$;
comment on function private.lead_source_channel(text, text, text) is
  'Channel of a lead from its click fields: gclid or paid Google UTM -> google_ads; microsite; organic -> seo; else other.';

create or replace function private.assign_lead_segment() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT'
     or new.industry_id is distinct from old.industry_id
     or new.region_code is distinct from old.region_code then
    new.segment_id := (
      select s.id from public.lead_segments s
      where s.industry_id = new.industry_id and s.region_code = new.region_code
    );
  end if;

  if tg_op = 'INSERT' then
    new.source_channel := coalesce(
      new.source_channel,
      private.lead_source_channel(new.gclid, new.utm_source, new.utm_medium)
    );
    new.source_campaign_id := coalesce(new.source_campaign_id, new.utm_campaign);
    new.source_keyword := coalesce(new.source_keyword, new.utm_term);
  else
    -- Click fields changed: derive again, unless the same update sets the value itself.
    if new.source_channel is not distinct from old.source_channel
       and (new.gclid is distinct from old.gclid
            or new.utm_source is distinct from old.utm_source
            or new.utm_medium is distinct from old.utm_medium) then
      new.source_channel := private.lead_source_channel(new.gclid, new.utm_source, new.utm_medium);
    end if;
    if new.source_campaign_id is not distinct from old.source_campaign_id
       and new.utm_campaign is distinct from old.utm_campaign then
      new.source_campaign_id := new.utm_campaign;
    end if;
    if new.source_keyword is not distinct from old.source_keyword
       and new.utm_term is distinct from old.utm_term then
      new.source_keyword := new.utm_term;
    end if;
  end if;
  return new;
end
$$;
comment on function private.assign_lead_segment() is
  'Trigger: sets leads.segment_id from (industry, region) and the source fields from gclid / UTM.';

create or replace function public.assign_lead_segments(p_from date, p_to date) returns integer
language plpgsql
set search_path = ''
as $$
declare
  assigned integer;
begin
  if p_from is null or p_to is null or p_from > p_to then
    raise exception 'assign_lead_segments needs from <= to, got % .. %', p_from, p_to
      using errcode = '22023';
  end if;
  update public.leads l
     set segment_id = s.id
    from public.lead_segments s
   where l.segment_id is null
     and s.industry_id = l.industry_id
     and s.region_code = l.region_code
     and l.created_at >= (p_from::timestamp at time zone 'Europe/Amsterdam')
     and l.created_at < ((p_to + 1)::timestamp at time zone 'Europe/Amsterdam');
  get diagnostics assigned = row_count;
  return assigned;
end
$$;
comment on function public.assign_lead_segments(date, date) is
  'Backfill: give leads created on Dutch days from..to without a segment the segment that now exists. Returns the count.';
revoke execute on function public.assign_lead_segments(date, date) from public, anon, authenticated;
grant execute on function public.assign_lead_segments(date, date) to service_role;

revoke execute on all functions in schema private from public, anon;
grant execute on function private.today_nl(), private.is_admin(), private.has_profile(),
  private.readable_segment_ids(),
  private.segment_campaigns_for_admin(uuid)
  to authenticated, service_role;

-- Leads that existed before 20261125000210 have no source fields, and no segment
-- while none existed. They are filled here in small batches after the schema
-- change, each batch its own short transaction (`leadflow db migrate` runs them
-- after the migrations; docs/DEPLOY.md), never inside the migration that holds
-- the lock on leads.
create or replace function public.backfill_lead_sources(p_after uuid, p_limit integer)
returns table (scanned integer, updated integer, last_id uuid)
language plpgsql
set search_path = ''
as $$
begin
  if p_limit is null or p_limit < 1 or p_limit > 50000 then
    raise exception 'backfill_lead_sources needs 1 <= limit <= 50000, got %', p_limit
      using errcode = '22023';
  end if;
  return query
  with batch as (
    select l.id
    from public.leads l
    where p_after is null or l.id > p_after
    order by l.id
    limit p_limit
  ),
  changed as (
    update public.leads l
       set source_channel = coalesce(
             l.source_channel, private.lead_source_channel(l.gclid, l.utm_source, l.utm_medium)),
           source_campaign_id = coalesce(l.source_campaign_id, l.utm_campaign),
           source_keyword = coalesce(l.source_keyword, l.utm_term),
           segment_id = coalesce(l.segment_id, (
             select s.id from public.lead_segments s
             where s.industry_id = l.industry_id and s.region_code = l.region_code))
      from batch b
     where l.id = b.id
       and (l.source_channel is null
            or (l.segment_id is null and exists (
                  select 1 from public.lead_segments s
                  where s.industry_id = l.industry_id and s.region_code = l.region_code)))
    returning 1
  )
  select (select count(*)::integer from batch),
         (select count(*)::integer from changed),
         (select b.id from batch b order by b.id desc limit 1);
end
$$;
comment on function public.backfill_lead_sources(uuid, integer) is
  'Backfill one batch: the next p_limit leads by id after p_after get their source fields and '
  'segment where missing. Returns rows scanned, rows changed and the last id (null when done).';
revoke execute on function public.backfill_lead_sources(uuid, integer) from public, anon, authenticated;
grant execute on function public.backfill_lead_sources(uuid, integer) to service_role;

-- =============================================================================
-- profiles.role (the admin flag Leadflow reads) is not for users to write.
--
-- The marketplace owns profiles and its policies: many let users update their
-- own row, some let them insert it. Leadflow reads admin rights from
-- profiles.role (private.is_admin), so a trigger refuses every change of the
-- role that comes from an end user's request (a JWT of anon or authenticated,
-- also through a security definer function), unless that user is an admin.
-- The service role, the dashboard and migrations (no end-user JWT) may. A
-- trigger holds whatever grants and policies the table has or gets later.
-- docs/DEPLOY.md ("Who is an admin") explains the choice.
-- =============================================================================

set local lock_timeout = '1s';
set local statement_timeout = '5s';

create or replace function private.guard_profile_role() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  request_role text := coalesce(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '');
begin
  if (request_role in ('anon', 'authenticated') or current_user in ('anon', 'authenticated'))
     and not (select private.is_admin())
     and ((tg_op = 'INSERT' and new.role is distinct from 'partner')
          or (tg_op = 'UPDATE' and new.role is distinct from old.role))
  then
    raise exception 'only an admin or the service role can set profiles.role'
      using errcode = '42501';
  end if;
  return new;
end
$$;
comment on function private.guard_profile_role() is
  'Trigger: refuses a change of profiles.role (or a new profile that is not a partner) requested by a non-admin end user.';
revoke execute on function private.guard_profile_role() from public, anon;

-- A short SHARE ROW EXCLUSIVE lock on profiles (a small table): profile writes
-- wait for this file's commit, reads do not.
drop trigger if exists profiles_guard_role on public.profiles;
create trigger profiles_guard_role
  before insert or update on public.profiles
  for each row execute function private.guard_profile_role();
