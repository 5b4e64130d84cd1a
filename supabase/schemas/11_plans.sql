-- =============================================================================
-- Plans per segment and day: the target from partner capacity; the plan job
-- is their one writer.
-- =============================================================================

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
