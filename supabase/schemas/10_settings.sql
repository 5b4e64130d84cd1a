-- =============================================================================
-- Orchestration settings: the kill switch and every plan, estimator and
-- controller parameter (one row), their audit history and per-industry margins.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- orchestration_settings: one row; the kill switch lives here
-- -----------------------------------------------------------------------------
create table public.orchestration_settings (
  id boolean primary key default true check (id),
  changes_enabled boolean not null default true,
  -- The hard ceiling of 20 % a day is this check, and written nowhere else.
  max_daily_change numeric(4, 3) not null default 0.200
    check (max_daily_change > 0 and max_daily_change <= 0.200),
  -- The controller's parameters (leadflow.controller.ControllerConfig reads them from here).
  dead_band numeric(4, 3) not null default 0.100 check (dead_band >= 0 and dead_band <= 1),
  min_gap_leads numeric(6, 2) not null default 0.50 check (min_gap_leads >= 0),
  billable_unit_micros bigint not null default 10000
    check (billable_unit_micros > 0 and billable_unit_micros % 10000 = 0),
  stale_after_days integer not null default 2 check (stale_after_days >= 0),
  fallback_step numeric(4, 3) not null default 0.500 check (fallback_step > 0 and fallback_step <= 1),
  -- The plan's parameters (public.plan_lead_segments reads them from here).
  acceptance_window_days integer not null default 28 check (acceptance_window_days >= 1),
  prior_acceptance numeric(4, 3) not null default 0.700
    check (prior_acceptance > 0 and prior_acceptance <= 1),
  prior_acceptance_weight numeric(6, 2) not null default 20 check (prior_acceptance_weight >= 0),
  max_pace numeric(4, 2) not null default 1.50 check (max_pace >= 1),
  -- Economics, the account cap and the response estimator (orchestration_inputs,
  -- estimate_segment_responses).
  account_daily_cap numeric(14, 2) check (account_daily_cap is null or account_daily_cap > 0),
  min_margin numeric(4, 3) not null default 0.100 check (min_margin >= 0 and min_margin < 1),
  shortfall_cost numeric(4, 3) not null default 0.250
    check (shortfall_cost >= 0 and shortfall_cost <= 2),
  prior_elasticity numeric(4, 3) not null default 0.550
    check (prior_elasticity > 0 and prior_elasticity <= 1),
  elasticity_spread numeric(4, 3) not null default 0.150 check (elasticity_spread > 0),
  elasticity_spread_max numeric(4, 3) not null default 0.500,
  response_window_days integer not null default 56
    check (response_window_days between 7 and 365),
  value_window_days integer not null default 56 check (value_window_days between 7 and 365),
  saturation_lost_share numeric(4, 3) not null default 0.020
    check (saturation_lost_share >= 0 and saturation_lost_share < 1),
  forecast_prior_leads numeric(8, 2) not null default 30 check (forecast_prior_leads > 0),
  elasticity_min numeric(4, 3) not null default 0.150,
  elasticity_max numeric(4, 3) not null default 1.500,
  demand_variance numeric(4, 3) not null default 0.030 check (demand_variance >= 0),
  conversion_rate_spread numeric(4, 3) not null default 0.050
    check (conversion_rate_spread >= 0 and conversion_rate_spread <= 2),
  scale_window_days integer not null default 14
    check (scale_window_days between 7 and 364 and scale_window_days % 7 = 0),
  min_accepted_for_value integer not null default 3 check (min_accepted_for_value >= 1),
  estimate_max_age_days integer not null default 7 check (estimate_max_age_days >= 1),
  steering_window_days integer not null default 7
    check (steering_window_days between 7 and 364 and steering_window_days % 7 = 0),
  -- The aggregate job's (leadflow.jobs.aggregate): data that settles late.
  restate_window_days integer not null default 7 check (restate_window_days between 1 and 60),
  -- The controller's probes (leadflow.controller.probe): spend variation where the curve is
  -- uncertain, within the dead band and on the gap's side.
  probe_step numeric(4, 3) not null default 0.050 check (probe_step >= 0 and probe_step <= 0.2),
  probe_min_sd numeric(4, 3) not null default 0.100 check (probe_min_sd >= 0),
  -- Exploring below a bend (leadflow.controller.steering.explore).
  explore_sd numeric(4, 2) not null default 2.50 check (explore_sd >= 0 and explore_sd <= 5),
  constraint orchestration_settings_elasticity_range
    check (elasticity_min > 0 and elasticity_min < elasticity_max and elasticity_max <= 2),
  constraint orchestration_settings_elasticity_spread_range
    check (elasticity_spread_max >= elasticity_spread and elasticity_spread_max <= 2),
  constraint orchestration_settings_probe_within_limit check (probe_step <= max_daily_change),
  updated_at timestamptz not null default now(),
  updated_by uuid
);
insert into public.orchestration_settings (id) values (true) on conflict do nothing;

comment on table public.orchestration_settings is
  'One row of orchestrator settings: the kill switch (changes_enabled = false: no budget change is sent) '
  'and the one home of every controller and planning parameter (docs/FORMULAS.md lists them).';
comment on column public.orchestration_settings.changes_enabled is
  'Kill switch: false stops every budget change (live and validate-only); decisions are still logged.';
comment on column public.orchestration_settings.max_daily_change is
  'Largest change of a budget in one day, as a fraction (at most 0.20).';
comment on column public.orchestration_settings.dead_band is
  'The controller holds while |gap| <= dead_band x target leads (relative dead band).';
comment on column public.orchestration_settings.min_gap_leads is
  'The controller holds while |gap| <= this many leads/day (absolute dead band).';
comment on column public.orchestration_settings.billable_unit_micros is
  'Budgets are whole multiples of this many micros: whole euro cents (10,000), which Google Ads requires.';
comment on column public.orchestration_settings.stale_after_days is
  'The controller holds when the newest stats are older than this many days.';
comment on column public.orchestration_settings.fallback_step is
  'With no cost per lead known, the controller moves by this fraction of the daily limit.';
comment on column public.orchestration_settings.acceptance_window_days is
  'Days of accepted and rejected leads the plan''s acceptance rate is measured over.';
comment on column public.orchestration_settings.prior_acceptance is
  'Acceptance rate a segment without history plans with (the prior of the plan''s acceptance rate).';
comment on column public.orchestration_settings.prior_acceptance_weight is
  'How many decided leads the prior acceptance rate is worth.';
comment on column public.orchestration_settings.max_pace is
  'A month behind schedule raises the daily accepted target to at most this multiple of the daily capacity.';
comment on column public.orchestration_settings.account_daily_cap is
  'Optional account-wide daily cap (euro): the day''s budgets never sum to more. Null: no cap.';
comment on column public.orchestration_settings.min_margin is
  'Minimum margin on an accepted lead: never raise a budget when the estimated marginal cost per accepted '
  'lead exceeds value x (1 - min_margin). industry_economics overrides it per industry.';
comment on column public.orchestration_settings.shortfall_cost is
  'The partner promise: what a lead missed within the partners'' capacity (the day''s target) costs, as '
  'a fraction of its value (credits, refunds, churn). A lead within the target is worth value x '
  '(1 - min_margin + shortfall_cost) to the controller; 0: margin alone (docs/FORMULAS.md).';
comment on column public.orchestration_settings.prior_elasticity is
  'Elasticity (paid leads grow like spend ^ e) a segment is pooled toward when its own data say little.';
comment on column public.orchestration_settings.elasticity_spread is
  'Smallest standard deviation of elasticities between segments (the prior''s, and the pooling''s, '
  'spread τ): the estimator measures τ per channel from the spread of the segments'' own estimates '
  '(beyond their noise) and keeps it within elasticity_spread .. elasticity_spread_max.';
comment on column public.orchestration_settings.elasticity_spread_max is
  'Largest spread τ of elasticities between segments the estimator takes from the data (see '
  'elasticity_spread; docs/FORMULAS.md, "Response estimates").';
comment on column public.orchestration_settings.response_window_days is
  'Days of Google Ads history an elasticity is estimated from.';
comment on column public.orchestration_settings.value_window_days is
  'Days of accepted leads the value of an accepted lead is averaged over.';
comment on column public.orchestration_settings.forecast_prior_leads is
  'Leads of prior weight a weekday''s (or public holiday''s) factor of an industry is shrunk toward 1 '
  'with (orchestration_inputs.day_factor; see docs/FORMULAS.md).';
comment on column public.orchestration_settings.elasticity_min is
  'Smallest elasticity the estimator gives a segment (its estimate is clamped to elasticity_min .. '
  'elasticity_max).';
comment on column public.orchestration_settings.elasticity_max is
  'Largest elasticity the estimator gives a segment (at most 2). Above 1 the curve is convex where the '
  'segment spends (below the bend of an S-shaped curve): the next lead costs no more than the average one.';
comment on column public.orchestration_settings.probe_step is
  'A probe: where the segment''s elasticity is uncertain (sd >= probe_min_sd) and its gap is within the '
  'dead band, the controller moves its budget by this fraction on the gap''s side (never against it), '
  'so the estimator sees spend vary; 0: no probes. At most max_daily_change.';
comment on column public.orchestration_settings.probe_min_sd is
  'The standard deviation of a segment''s elasticity from which the controller probes (probe_step).';
comment on column public.orchestration_settings.explore_sd is
  'Exploring below a bend: a segment under target whose next accepted lead costs more than it is worth '
  'is still raised by the daily limit when, at its elasticity plus explore_sd standard deviations, the '
  'curve would be convex there and the average accepted lead would fall to its worth within the target '
  'and the segment maximum; 0: never.';
comment on column public.orchestration_settings.demand_variance is
  'Day-to-day variance of ln(demand): with the Poisson 1 / leads, var(ln mean) of a spend half of the '
  'estimator is 1 / its leads + demand_variance / its days.';
comment on column public.orchestration_settings.conversion_rate_spread is
  'Smallest spread between segments of how their conversion rate moves with spend (the slope of ln '
  'conversions per click on ln spend): a segment''s own elasticity is its clicks'' slope plus that slope, '
  'its own shrunk toward the channel''s mean (docs/FORMULAS.md, "Response estimates").';
comment on column public.orchestration_settings.scale_window_days is
  'Recent days (a whole number of weeks) the estimator''s scale is fitted over, and the paid leads per '
  'day at the week''s spend (orchestration_inputs.paid_leads) are averaged over.';
comment on column public.orchestration_settings.min_accepted_for_value is
  'Accepted leads a segment (else its industry, else all segments) needs over value_window_days for its '
  'mean price to be the value of an accepted lead.';
comment on column public.orchestration_settings.estimate_max_age_days is
  'orchestration_inputs uses the newest response estimate of the last this many days (to the day); '
  'older: none (the prior elasticity, no value).';
comment on column public.orchestration_settings.steering_window_days is
  'The trailing window (a whole number of weeks: each weekday counts equally) of targets, leads and '
  'spend the controller''s inputs are means over (orchestration_inputs).';
comment on column public.orchestration_settings.restate_window_days is
  'The scheduled aggregate measures the trailing this many days (yesterday included) again each run, '
  'leads and Google Ads metrics: late acceptances and restated cost and conversions reach the stats; '
  'unchanged rows are not rewritten.';
comment on column public.orchestration_settings.saturation_lost_share is
  'Impressions lost to budget below this share: the budget is not what limits volume (the controller '
  'holds under target, the estimator skips the day).';

create or replace function private.stamp_settings_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  new.updated_by := (select auth.uid());
  return new;
end
$$;
create trigger orchestration_settings_stamp
  before update on public.orchestration_settings
  for each row execute function private.stamp_settings_change();

alter table public.orchestration_settings enable row level security;
-- Also from service_role, which default privileges give everything: the jobs only read it.
revoke all on table public.orchestration_settings from anon, authenticated, service_role;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant select on table public.orchestration_settings to service_role;
grant select on table public.orchestration_settings to leadflow_money;
create policy "The money owner reads orchestration settings"
  on public.orchestration_settings for select to leadflow_money using (true);
create policy "Admins can read orchestration settings"
  on public.orchestration_settings for select to authenticated
  using ((select private.is_admin()));
create policy "Admins can change orchestration settings"
  on public.orchestration_settings for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create or replace function public.orchestration_settings_get()
returns jsonb
language sql stable
set search_path = ''
as $$
  -- The whole row, so that a parameter added to the table reaches the jobs without a second list.
  select to_jsonb(o) - 'id' - 'updated_at' - 'updated_by' from public.orchestration_settings o
$$;
comment on function public.orchestration_settings_get() is
  'The settings row as one object: the kill switch, the daily change limit and every controller and '
  'planning parameter.';

revoke execute on function public.orchestration_settings_get() from public, anon;
grant execute on function public.orchestration_settings_get() to authenticated, service_role;


-- Admins change these in the SQL editor (like the kill switch): no API role is granted the
-- table, so pg_graphql shows it to no one (lint pg_graphql_admin_table_exposed).

-- Audit: every change of the settings, who made it and what it was before and after.
create table public.orchestration_settings_history (
  id bigint generated always as identity primary key,
  changed_at timestamptz not null default now(),
  changed_by uuid,
  old_settings jsonb not null,
  new_settings jsonb not null
);
comment on table public.orchestration_settings_history is
  'Append-only audit of orchestration_settings: every change (kill switch, daily limit, cap, margins, '
  'controller parameters) with who made it. Admin-only.';
alter table public.orchestration_settings_history enable row level security;
revoke all on table public.orchestration_settings_history from anon, authenticated, service_role;
grant select on table public.orchestration_settings_history to service_role;
create policy "Admins can read the settings history"
  on public.orchestration_settings_history for select to authenticated
  using ((select private.is_admin()));

create or replace function private.audit_settings_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.orchestration_settings_history (changed_by, old_settings, new_settings)
  values (new.updated_by, to_jsonb(old) - 'updated_at' - 'updated_by',
          to_jsonb(new) - 'updated_at' - 'updated_by');
  return new;
end
$$;
revoke execute on function private.audit_settings_change() from public, anon, authenticated;
create trigger orchestration_settings_audit
  after update on public.orchestration_settings
  for each row execute function private.audit_settings_change();

-- An industry's own minimum margin.
create table public.industry_economics (
  industry_id uuid primary key references public.industries (id) on delete cascade,
  min_margin numeric(4, 3) not null check (min_margin >= 0 and min_margin < 1),
  updated_at timestamptz not null default now()
);
comment on table public.industry_economics is
  'Per industry: the minimum margin on an accepted lead (overrides orchestration_settings.min_margin). Admin-only.';
alter table public.industry_economics enable row level security;
revoke all on table public.industry_economics from anon, authenticated, service_role;
grant select on table public.industry_economics to service_role;
create policy "Admins can read industry economics"
  on public.industry_economics for select to authenticated using ((select private.is_admin()));
create policy "Admins can add industry economics"
  on public.industry_economics for insert to authenticated with check ((select private.is_admin()));
create policy "Admins can change industry economics"
  on public.industry_economics for update to authenticated
  using ((select private.is_admin())) with check ((select private.is_admin()));
create policy "Admins can remove industry economics"
  on public.industry_economics for delete to authenticated using ((select private.is_admin()));
