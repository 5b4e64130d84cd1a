-- =============================================================================
-- Channels and the budgets mapped on them.
--
-- A channel is a key: a row of public.ad_channels (paid ones carry the pattern of
-- their budgets' names, a kill switch and a daily cap), one module in
-- shared/leadflow/channels/ and one registry entry there. Adding a channel is a row
-- here, never a check constraint.
-- =============================================================================

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


-- -----------------------------------------------------------------------------
-- segment_campaign_budgets: which budgets, on which channels, a segment steers
-- -----------------------------------------------------------------------------
create table public.segment_campaign_budgets (
  id uuid primary key default gen_random_uuid(),
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  channel text not null default 'google_ads' references public.ad_channels (key),
  customer_id text not null check (customer_id ~ '^[0-9]+$'),
  campaign_id text not null check (campaign_id ~ '^[0-9]+$'),
  budget_resource_name text not null unique,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  unique (channel, customer_id, campaign_id),
  check (split_part(budget_resource_name, '/', 2) = customer_id)
);
create index segment_campaign_budgets_segment_id_idx on public.segment_campaign_budgets (segment_id);

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
comment on column public.segment_campaign_budgets.is_active is 'Inactive mappings are not orchestrated.';

alter table public.segment_campaign_budgets enable row level security;
-- Also from service_role, which default privileges give everything.
revoke all on table public.segment_campaign_budgets from anon, authenticated, service_role;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
-- The service role reads the mapping; it never writes it (a key that could map any budget
-- could steer any budget): admins do, through the API's definer functions.
grant select on table public.segment_campaign_budgets to service_role;
grant select on table public.segment_campaign_budgets to leadflow_money;
create policy "The money owner reads campaign mappings"
  on public.segment_campaign_budgets for select to leadflow_money using (true);
create policy "Admins manage campaign mappings"
  on public.segment_campaign_budgets for all to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

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

-- -----------------------------------------------------------------------------

-- -----------------------------------------------------------------------------
-- What the controller needs per campaign budget
-- -----------------------------------------------------------------------------
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
