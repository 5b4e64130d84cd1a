-- =============================================================================
-- Daily stats and plans per segment, and the gap between them.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

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
  leads_google_ads integer not null default 0 check (leads_google_ads >= 0),
  leads_seo integer not null default 0 check (leads_seo >= 0),
  leads_microsite integer not null default 0 check (leads_microsite >= 0),
  leads_other integer not null default 0 check (leads_other >= 0),
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
  check (leads_google_ads + leads_seo + leads_microsite + leads_other = leads_generated)
);
create index lead_generation_stats_day_idx on public.lead_generation_stats (day);

comment on table public.lead_generation_stats is
  'One row per segment per Dutch calendar day: leads, their outcome and channel, money, and partner capacity.';
comment on column public.lead_generation_stats.day is 'Calendar day in Europe/Amsterdam.';
comment on column public.lead_generation_stats.leads_generated is 'Leads created that day in the segment.';
comment on column public.lead_generation_stats.leads_accepted is 'Of those, accepted by a partner (as of the last aggregation).';
comment on column public.lead_generation_stats.leads_rejected is 'Of those, rejected.';
comment on column public.lead_generation_stats.leads_pending is 'Of those, not yet accepted or rejected.';
comment on column public.lead_generation_stats.leads_google_ads is 'Leads from Google Ads.';
comment on column public.lead_generation_stats.leads_seo is 'Leads from organic search.';
comment on column public.lead_generation_stats.leads_microsite is 'Leads from our microsites.';
comment on column public.lead_generation_stats.leads_other is 'Leads from any other or unknown source.';
comment on column public.lead_generation_stats.revenue is 'Sum of the price of accepted leads (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_spend is 'Google Ads cost attributed to the segment (euro). Admin-only.';
comment on column public.lead_generation_stats.ad_clicks is 'Google Ads clicks. Admin-only.';
comment on column public.lead_generation_stats.ad_impressions is 'Google Ads impressions. Admin-only.';
comment on column public.lead_generation_stats.ad_conversions is 'Google Ads conversions (click date). Admin-only.';
comment on column public.lead_generation_stats.cpl is 'ad_spend / leads_google_ads; null when there were no Google Ads leads. Admin-only.';
comment on column public.lead_generation_stats.active_partners is 'Partners with an active subscription covering the segment that day.';
comment on column public.lead_generation_stats.total_capacity is 'Leads those partners can absorb that day.';
comment on column public.lead_generation_stats.computed_at is 'When the aggregate job last wrote this row.';

alter table public.lead_generation_stats enable row level security;
revoke all on table public.lead_generation_stats from anon, authenticated;
grant select (
  segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
  leads_google_ads, leads_seo, leads_microsite, leads_other, active_partners, total_capacity,
  computed_at
) on table public.lead_generation_stats to authenticated;
grant all on table public.lead_generation_stats to service_role;
create policy "Partners read counts of their subscribed segments, admins all"
  on public.lead_generation_stats for select to authenticated
  using (segment_id in (select private.readable_segment_ids()));

-- -----------------------------------------------------------------------------
-- lead_segment_plans: what should happen, per segment per Dutch day
-- -----------------------------------------------------------------------------
create table public.lead_segment_plans (
  segment_id uuid not null references public.lead_segments (id) on delete cascade,
  day date not null,
  capacity numeric(12, 2) not null default 0 check (capacity >= 0),
  acceptance_rate numeric(5, 4) check (acceptance_rate is null or acceptance_rate between 0 and 1),
  target_leads numeric(12, 2) not null check (target_leads >= 0),
  actual_leads integer check (actual_leads is null or actual_leads >= 0),
  lead_gap numeric(12, 2) generated always as (target_leads - actual_leads) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (segment_id, day)
);
create index lead_segment_plans_day_idx on public.lead_segment_plans (day);

comment on table public.lead_segment_plans is
  'One row per segment per Dutch day: the target from partner capacity, the actual, and the gap. '
  'Written by the plan job alone (plan_lead_segments, update_lead_gaps); the budgets decided for the '
  'day are on channel_orchestration_log, and lead_segment_days joins the three.';
comment on column public.lead_segment_plans.day is 'Calendar day in Europe/Amsterdam.';
comment on column public.lead_segment_plans.capacity is 'Leads the subscribed partners can absorb that day.';
comment on column public.lead_segment_plans.acceptance_rate is 'Share of leads partners accept, used to gross up the target.';
comment on column public.lead_segment_plans.target_leads is 'Leads to generate that day (gross, before rejections).';
comment on column public.lead_segment_plans.actual_leads is
  'Leads generated that day, copied from lead_generation_stats by update_lead_gaps; null until measured.';
comment on column public.lead_segment_plans.lead_gap is
  'target_leads - actual_leads: positive means under target. Null until measured. The one formula of the gap.';

create trigger lead_segment_plans_touch_updated_at
  before update on public.lead_segment_plans
  for each row execute function private.touch_updated_at();

alter table public.lead_segment_plans enable row level security;
revoke all on table public.lead_segment_plans from anon, authenticated;
grant select (
  segment_id, day, capacity, acceptance_rate, target_leads, actual_leads, lead_gap,
  created_at, updated_at
) on table public.lead_segment_plans to authenticated;
grant all on table public.lead_segment_plans to service_role;
create policy "Partners read plans of their subscribed segments, admins all"
  on public.lead_segment_plans for select to authenticated
  using (segment_id in (select private.readable_segment_ids()));

-- -----------------------------------------------------------------------------
-- The gap: stored by the plan job (update_lead_gaps), read by calculate_lead_gap
-- -----------------------------------------------------------------------------

create or replace function public.calculate_lead_gap(p_segment_id uuid, p_day date) returns numeric
language sql stable
set search_path = ''
as $$
  -- What lead_gap becomes once update_lead_gaps copies the measured actual in.
  select p.target_leads - st.leads_generated
  from public.lead_segment_plans p
  join public.lead_generation_stats st on st.segment_id = p.segment_id and st.day = p.day
  where p.segment_id = p_segment_id and p.day = p_day
$$;
comment on function public.calculate_lead_gap(uuid, date) is
  'target - actual leads for a segment and day from the stats as they are now, without writing. Null when '
  'there is no plan (no target) or no stats row (actual not measured yet); a measured day with no leads '
  'has a stats row with 0.';
revoke execute on function public.calculate_lead_gap(uuid, date) from public, anon;
grant execute on function public.calculate_lead_gap(uuid, date) to authenticated, service_role;

create or replace function public.update_lead_gaps(p_from date, p_to date, p_segment_id uuid default null)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  -- Only plans whose measured actual changed are written.
  update public.lead_segment_plans p
     set actual_leads = st.leads_generated
    from public.lead_segment_plans pl
    left join public.lead_generation_stats st on st.segment_id = pl.segment_id and st.day = pl.day
   where pl.day between p_from and p_to
     and (p_segment_id is null or pl.segment_id = p_segment_id)
     and p.segment_id = pl.segment_id and p.day = pl.day
     and p.actual_leads is distinct from st.leads_generated;
  get diagnostics written = row_count;
  return written;
end
$$;
comment on function public.update_lead_gaps(date, date, uuid) is
  'Copy the measured actual leads into the plans of the days from..to (all segments, or one), which sets '
  'lead_gap; no stats row: actual and gap become null. Returns the plans whose actual changed. Called by '
  'the plan job (plan_lead_segments), the one writer of plans.';

create or replace function public.update_lead_gap(p_segment_id uuid, p_day date) returns numeric
language sql
set search_path = ''
as $$
  select public.update_lead_gaps(p_day, p_day, p_segment_id);
  select p.lead_gap from public.lead_segment_plans p where p.segment_id = p_segment_id and p.day = p_day
$$;
comment on function public.update_lead_gap(uuid, date) is
  'Write actual_leads (and so lead_gap) of one plan from its stats and return the gap. '
  'No plan: changes nothing, returns null. No stats: actual and gap become null (not measured).';

revoke execute on function public.update_lead_gaps(date, date, uuid) from public, anon, authenticated;
revoke execute on function public.update_lead_gap(uuid, date) from public, anon, authenticated;
grant execute on function public.update_lead_gaps(date, date, uuid) to service_role;
grant execute on function public.update_lead_gap(uuid, date) to service_role;

-- =============================================================================
-- Read functions: what dashboards, the CLI and the API call. Security invoker,
-- so RLS and column grants decide what each caller sees.
-- =============================================================================

create or replace function public.segment_overview(p_day date default null)
returns table (
  segment_id uuid,
  code text,
  day date,
  capacity numeric,
  target_leads numeric,
  actual_leads integer,
  lead_gap numeric
)
language sql stable
set search_path = ''
as $$
  select s.id, s.code, p.day, p.capacity, p.target_leads, p.actual_leads, p.lead_gap
  from public.lead_segments s
  left join lateral (
    select pl.day, pl.capacity, pl.target_leads, pl.actual_leads, pl.lead_gap
    from public.lead_segment_plans pl
    where pl.segment_id = s.id and (p_day is null or pl.day = p_day)
    order by pl.day desc
    limit 1
  ) p on true
  where s.is_active
  order by s.code
$$;
comment on function public.segment_overview(date) is
  'Each active segment with its plan for p_day (default: its latest plan): capacity, target, actual, gap.';
revoke execute on function public.segment_overview(date) from public, anon;
grant execute on function public.segment_overview(date) to authenticated, service_role;
