-- =============================================================================
-- Segments: the 12 provinces and lead_segments (industry x province), with
-- their budget bounds and who may read and change them.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

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
-- The money owner's functions read the bounds and flags at the moment they decide.
grant select on table public.lead_segments to leadflow_money;

-- A valid token is not enough: with sign-up open anyone has one. Only users
-- with a marketplace profile (partners, admins) see segments.
create policy "Partners read active segments, admins all"
  on public.lead_segments for select to authenticated
  using ((is_active and (select private.has_profile())) or (select private.is_admin()));
create policy "The money owner reads segments"
  on public.lead_segments for select to leadflow_money using (true);
create policy "Admins can create segments"
  on public.lead_segments for insert to authenticated
  with check ((select private.is_admin()));
create policy "Admins can change segments"
  on public.lead_segments for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));
