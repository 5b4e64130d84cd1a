-- =============================================================================
-- Baseline: the existing marketplace tables Leadflow reads.
--
-- Production already has `industries`, `profiles`, `subscriptions` and `leads`.
-- Each is created here only when it does not exist, so a fresh database (and
-- every test) has them, while a production table, its grants and its policies
-- are left exactly as they are. The columns assumed are documented in
-- docs/BASELINE.md.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

create schema if not exists private;
comment on schema private is
  'Leadflow helpers that PostgREST does not expose: security definer functions and triggers.';
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- The owner of the money: a role no key maps to (nologin). It owns the tables that record
-- budget decisions, budgets and job runs, and the security definer functions (in private)
-- that are their only writers. No PostgREST role writes them. docs/MONEY_SAFETY.md.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'leadflow_money') then
    create role leadflow_money nologin noinherit;
  end if;
  -- The migrating role hands objects to it (alter ... owner to).
  execute format('grant leadflow_money to %I', current_user);
end
$$;
grant usage on schema private to leadflow_money;

-- Supabase's default privileges hand every new sequence to the API roles: not ours.
alter default privileges in schema public revoke all on sequences from anon, authenticated;

-- -----------------------------------------------------------------------------
-- profiles
-- -----------------------------------------------------------------------------
do $$
begin
  if to_regclass('public.profiles') is null then
    create table public.profiles (
      id uuid primary key references auth.users (id) on delete cascade,
      role text not null default 'partner' check (role in ('partner', 'admin')),
      company_name text,
      email text,
      created_at timestamptz not null default now()
    );
    alter table public.profiles enable row level security;
    revoke all on table public.profiles from anon, authenticated;
    grant select on table public.profiles to authenticated;
    grant all on table public.profiles to service_role;
    create policy "Users can read their own profile"
      on public.profiles for select to authenticated using (id = (select auth.uid()));
  end if;
end
$$;
comment on table public.profiles is 'One row per user of the marketplace: partners (tradespeople) and admins.';
comment on column public.profiles.role is 'partner or admin; admins manage Leadflow segments and see money.';

-- -----------------------------------------------------------------------------
-- industries
-- -----------------------------------------------------------------------------
do $$
begin
  if to_regclass('public.industries') is null then
    create table public.industries (
      id uuid primary key default gen_random_uuid(),
      slug text not null unique check (slug ~ '^[a-z][a-z0-9_]*$'),
      name text not null check (length(btrim(name)) > 0),
      created_at timestamptz not null default now()
    );
    alter table public.industries enable row level security;
    revoke all on table public.industries from anon, authenticated;
    grant select on table public.industries to authenticated;
    grant all on table public.industries to service_role;
    -- Users with a marketplace profile: a bare sign-up (a token, no profile) reads nothing.
    create policy "Partners and admins can read industries"
      on public.industries for select to authenticated
      using (exists (select 1 from public.profiles p where p.id = (select auth.uid())));
  end if;
end
$$;
comment on table public.industries is 'Trades the marketplace sells leads for (painter, plumber, ...).';
comment on column public.industries.slug is 'Stable lower-case code, the first half of a segment code.';

-- -----------------------------------------------------------------------------
-- subscriptions
-- -----------------------------------------------------------------------------
do $$
begin
  if to_regclass('public.subscriptions') is null then
    create table public.subscriptions (
      id uuid primary key default gen_random_uuid(),
      partner_id uuid not null references public.profiles (id) on delete cascade,
      industry_id uuid not null references public.industries (id),
      region_codes text[] not null check (cardinality(region_codes) > 0),
      monthly_lead_quota integer not null check (monthly_lead_quota > 0),
      status text not null default 'active' check (status in ('active', 'paused', 'cancelled')),
      starts_on date not null default current_date,
      ends_on date,
      created_at timestamptz not null default now(),
      check (ends_on is null or ends_on >= starts_on)
    );
    create index subscriptions_partner_id_idx on public.subscriptions (partner_id);
    create index subscriptions_industry_id_idx on public.subscriptions (industry_id);
    alter table public.subscriptions enable row level security;
    revoke all on table public.subscriptions from anon, authenticated;
    grant select on table public.subscriptions to authenticated;
    grant all on table public.subscriptions to service_role;
    create policy "Partners can read their own subscriptions"
      on public.subscriptions for select to authenticated using (partner_id = (select auth.uid()));
  end if;
end
$$;
comment on table public.subscriptions is 'A partner''s paid plan: an industry, the provinces covered, a monthly lead quota.';
comment on column public.subscriptions.region_codes is 'Province codes (public.regions.code) the partner takes leads in.';
comment on column public.subscriptions.monthly_lead_quota is 'Leads per calendar month the partner has bought.';
comment on column public.subscriptions.status is 'active, paused or cancelled; only active subscriptions count as capacity.';

-- -----------------------------------------------------------------------------
-- leads
-- -----------------------------------------------------------------------------
do $$
begin
  if to_regclass('public.leads') is null then
    create table public.leads (
      id uuid primary key default gen_random_uuid(),
      industry_id uuid references public.industries (id),
      region_code text,
      postal_code text,
      status text not null default 'pending' check (status in ('pending', 'accepted', 'rejected')),
      price numeric(10, 2) check (price is null or price >= 0),
      partner_id uuid references public.profiles (id) on delete set null,
      gclid text,
      utm_source text,
      utm_medium text,
      utm_campaign text,
      utm_term text,
      created_at timestamptz not null default now()
    );
    create index leads_industry_id_idx on public.leads (industry_id);
    create index leads_partner_id_idx on public.leads (partner_id);
    alter table public.leads enable row level security;
    revoke all on table public.leads from anon, authenticated;
    grant select on table public.leads to authenticated;
    grant all on table public.leads to service_role;
    create policy "Partners can read the leads they bought"
      on public.leads for select to authenticated using (partner_id = (select auth.uid()));
  end if;
end
$$;
comment on table public.leads is 'Quote requests from consumers, sold to partners.';
comment on column public.leads.region_code is 'Province code (public.regions.code) of the job.';
comment on column public.leads.status is 'pending until a partner accepts or rejects the lead.';
comment on column public.leads.price is 'What the partner pays for the lead (euro); counts as revenue when accepted.';
comment on column public.leads.created_at is 'When the consumer sent the request; Leadflow days cut it in Europe/Amsterdam.';
