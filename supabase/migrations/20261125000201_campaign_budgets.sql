-- =============================================================================
-- Budget mapping: which Google Ads campaign budget(s) a segment steers.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

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

-- -----------------------------------------------------------------------------
-- What the controller needs per campaign budget
-- -----------------------------------------------------------------------------
create or replace function public.campaign_customer_ids() returns setof text
language sql stable
set search_path = ''
as $$
  select distinct cb.customer_id
  from public.segment_campaign_budgets cb
  join public.lead_segments s on s.id = cb.segment_id
  where cb.is_active and s.is_active
  order by 1
$$;
comment on function public.campaign_customer_ids() is 'Google Ads customer ids with an active mapped budget.';

revoke execute on function public.campaign_customer_ids() from public, anon, authenticated;
grant execute on function public.campaign_customer_ids() to service_role;
