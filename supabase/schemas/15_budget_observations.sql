-- =============================================================================
-- Budgets as last seen in Google Ads, kept by the jobs on every read, and
-- what each budget stands at on a day (the account cap's count).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- 1. Budgets as last seen
-- -----------------------------------------------------------------------------
create table private.budget_observations (
  budget_resource_name text primary key,
  amount_micros bigint not null check (amount_micros >= 0),
  explicitly_shared boolean not null default false,
  reference_count integer not null default 1,
  period text not null default 'DAILY',
  observed_at timestamptz not null default now()
);
comment on table private.budget_observations is
  'The amount (and sharing) of each campaign budget as Google Ads last reported it to a job.';
revoke all on table private.budget_observations from public, anon, authenticated, service_role;

create or replace function private.budget_standing_amounts(p_day date)
returns table (budget_resource_name text, amount_micros bigint)
language sql stable
security definer
set search_path = ''
as $$
  -- Every active mapped budget as it stands on the day, for the account daily cap: the
  -- amount of its newest live change sent that day (applied: the new amount; sent or of
  -- unknown outcome: the higher of old and new), else what Google Ads last reported to a
  -- job (private.budget_observations), else 0.
  select cb.budget_resource_name,
         coalesce(t.amount_micros, o.amount_micros, 0)::bigint
  from public.segment_campaign_budgets cb
  join public.lead_segments s on s.id = cb.segment_id and s.is_active
  left join private.budget_observations o on o.budget_resource_name = cb.budget_resource_name
  left join (
    select distinct on (l.budget_resource_name) l.budget_resource_name,
           case when l.status = 'success' then l.new_amount_micros
                else greatest(l.old_amount_micros, l.new_amount_micros) end as amount_micros
    from public.channel_orchestration_log l
    where l.sent_on = p_day and l.mode = 'live' and l.status in ('sent', 'unknown', 'success')
    order by l.budget_resource_name, l.id desc
  ) t on t.budget_resource_name = cb.budget_resource_name
  where cb.is_active
$$;
comment on function private.budget_standing_amounts(date) is
  'Each active mapped budget''s amount on a day, for the account daily cap: its newest live change '
  'sent that day (applied: new; sent or unknown: the higher of old and new), else the amount Google Ads '
  'last reported (budget_observations), else 0.';
revoke execute on function private.budget_standing_amounts(date) from public, anon, authenticated;
grant execute on function private.budget_standing_amounts(date) to service_role;

create or replace function private.budget_standing_amount(p_budget text, p_day date) returns bigint
language sql stable
security definer
set search_path = ''
as $$
  -- One budget's row of private.budget_standing_amounts (the same rule), by its indexes;
  -- null: neither changed that day nor ever reported.
  select coalesce(
    (select case when l.status = 'success' then l.new_amount_micros
                 else greatest(l.old_amount_micros, l.new_amount_micros) end
       from public.channel_orchestration_log l
      where l.budget_resource_name = p_budget and l.sent_on = p_day and l.mode = 'live'
        and l.status in ('sent', 'unknown', 'success')
      order by l.id desc
      limit 1),
    (select o.amount_micros from private.budget_observations o where o.budget_resource_name = p_budget))
$$;
comment on function private.budget_standing_amount(text, date) is
  'One budget''s amount on a day, for the account daily cap (the rule of budget_standing_amounts).';
revoke execute on function private.budget_standing_amount(text, date) from public, anon, authenticated;
grant execute on function private.budget_standing_amount(text, date) to service_role;

create or replace function public.record_budget_observations(p_observed jsonb) returns integer
language sql volatile
security definer
set search_path = ''
as $$
  with seen as (
    select distinct on (x.budget_resource_name) x.*
    from jsonb_to_recordset(coalesce(p_observed, '[]'::jsonb)) as x (
      budget_resource_name text, amount_micros bigint, explicitly_shared boolean,
      reference_count integer, period text)
    where x.budget_resource_name is not null and x.amount_micros is not null
  ),
  written as (
    insert into private.budget_observations as o
      (budget_resource_name, amount_micros, explicitly_shared, reference_count, period, observed_at)
    select s.budget_resource_name, s.amount_micros, coalesce(s.explicitly_shared, false),
           coalesce(s.reference_count, 1), coalesce(s.period, 'DAILY'), now()
    from seen s
    on conflict (budget_resource_name) do update
      set amount_micros = excluded.amount_micros,
          explicitly_shared = excluded.explicitly_shared,
          reference_count = excluded.reference_count,
          period = excluded.period,
          observed_at = excluded.observed_at
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function public.record_budget_observations(jsonb) is
  'Keeps what Google Ads reported for each budget ([{budget_resource_name, amount_micros, ...}]).';

create or replace function public.last_seen_budgets(p_names text[])
returns table (
  budget_resource_name text,
  amount_micros bigint,
  explicitly_shared boolean,
  reference_count integer,
  period text,
  seen_at timestamptz
)
language sql stable
security definer
set search_path = ''
as $$
  -- A live change applied after the observation is what the budget holds now.
  select o.budget_resource_name,
         coalesce(applied.new_amount_micros, o.amount_micros),
         o.explicitly_shared, o.reference_count, o.period,
         coalesce(applied.completed_at, o.observed_at)
  from private.budget_observations o
  left join lateral (
    select l.new_amount_micros, l.completed_at
    from public.channel_orchestration_log l
    where l.budget_resource_name = o.budget_resource_name
      and l.mode = 'live' and l.status = 'success' and l.completed_at > o.observed_at
    order by l.completed_at desc, l.id desc
    limit 1
  ) applied on true
  where o.budget_resource_name = any (p_names)
$$;
comment on function public.last_seen_budgets(text[]) is
  'Each budget as the jobs last saw it (Google Ads'' report, or a later applied change), and when.';
