-- =============================================================================
-- Budgets: what the database holds as true about each campaign budget.
--
--   budget_observations      what Google Ads last reported to a job (every read)
--   budget_records           the database's own record: the amount Leadflow last
--                            confirmed sent (or first saw, or an admin accepted)
--   budget_external_changes  every report that disagreed with the record: an
--                            external change (an edit in Google Ads, a late write,
--                            or a lie through a leaked key) until an admin accepts it
--
-- A caller reports, the database decides: the base of the daily limit is the
-- record, never a caller's number, and while an external change is open a change
-- must lie within the daily limit of both. docs/MONEY_SAFETY.md.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Budgets as last seen
-- -----------------------------------------------------------------------------
create table private.budget_observations (
  budget_resource_name text primary key,
  amount_micros bigint not null check (amount_micros >= 0 and amount_micros % 10000 = 0),
  explicitly_shared boolean not null default false,
  reference_count integer not null default 1,
  period text not null default 'DAILY',
  observed_at timestamptz not null default now()
);
comment on table private.budget_observations is
  'The amount (and sharing) of each campaign budget as Google Ads last reported it to a job.';
alter table private.budget_observations owner to leadflow_money;
revoke all on table private.budget_observations from public, anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- The record, and the reports that disagreed with it
-- -----------------------------------------------------------------------------
create table private.budget_records (
  budget_resource_name text primary key,
  amount_micros bigint not null check (amount_micros >= 0 and amount_micros % 10000 = 0),
  source text not null check (source in ('first_seen', 'sent', 'accepted')),
  log_id bigint,
  recorded_at timestamptz not null default now(),
  check ((source = 'sent') = (log_id is not null))
);
comment on table private.budget_records is
  'The database''s record of each budget: the amount of its last change confirmed applied (sent), the '
  'amount first reported (first_seen), or one an admin accepted. The base of the daily limit.';
alter table private.budget_records owner to leadflow_money;
revoke all on table private.budget_records from public, anon, authenticated, service_role;

create table private.budget_external_changes (
  id bigint generated always as identity primary key,
  budget_resource_name text not null,
  record_micros bigint not null,
  observed_micros bigint not null check (observed_micros >= 0),
  observed_at timestamptz not null default now(),
  accepted_at timestamptz,
  accepted_by uuid,
  check ((accepted_at is null) = (accepted_by is null))
);
-- One open disagreement per budget and amount: a report repeated is the same change.
create unique index budget_external_changes_open_idx
  on private.budget_external_changes (budget_resource_name, observed_micros)
  where accepted_at is null;
comment on table private.budget_external_changes is
  'Every amount Google Ads was reported to hold that the record did not explain. While open (not '
  'accepted by an admin), a change of the budget stays within the daily limit of it as well.';
alter table private.budget_external_changes owner to leadflow_money;
revoke all on table private.budget_external_changes from public, anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- One lock for every money write (the gate's serialization)
-- -----------------------------------------------------------------------------
-- Every function that writes money state updates this row first. Under READ COMMITTED
-- they queue, and each then reads what the one before committed; under REPEATABLE READ
-- and SERIALIZABLE the update fails (40001) when another committed after this
-- transaction's snapshot, so no check ever runs on a stale snapshot: retry. Settings,
-- bounds and mapping changes take it too (their triggers), so a claim in progress
-- finishes before they land and every later claim sees them.
create table private.money_ledger (
  id boolean primary key default true check (id),
  writes bigint not null default 0
);
insert into private.money_ledger (id) values (true) on conflict do nothing;
comment on table private.money_ledger is
  'One row that every money write locks first: claims, logs, completions, observations and changes '
  'of settings, bounds and mappings are serialized through it.';
alter table private.money_ledger owner to leadflow_money;
revoke all on table private.money_ledger from public, anon, authenticated, service_role;

create or replace function private.lock_money() returns void
language sql
security definer
set search_path = ''
as $$
  update private.money_ledger set writes = writes + 1 where id
$$;
comment on function private.lock_money() is
  'Take the money lock (see private.money_ledger) until the transaction ends.';
alter function private.lock_money() owner to leadflow_money;
revoke execute on function private.lock_money() from public, anon, authenticated, service_role;
grant execute on function private.lock_money() to authenticated;

create or replace function private.lock_money_on_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.lock_money();
  return null;
end
$$;
comment on function private.lock_money_on_change() is
  'Trigger: a change of a kill switch, a cap, settings, bounds or mappings waits for the claim in progress.';
alter function private.lock_money_on_change() owner to leadflow_money;
revoke execute on function private.lock_money_on_change() from public, anon, authenticated, service_role;

create trigger orchestration_settings_lock_money
  before update on public.orchestration_settings
  for each statement execute function private.lock_money_on_change();
create trigger lead_segments_lock_money
  before update of is_active, min_daily_budget, max_daily_budget or delete on public.lead_segments
  for each statement execute function private.lock_money_on_change();
create trigger segment_campaign_budgets_lock_money
  before insert or update or delete on public.segment_campaign_budgets
  for each statement execute function private.lock_money_on_change();
create trigger ad_channels_lock_money
  before update or delete on public.ad_channels
  for each statement execute function private.lock_money_on_change();

-- -----------------------------------------------------------------------------
-- Reading the record
-- -----------------------------------------------------------------------------
create or replace function private.budget_record(p_budget text) returns bigint
language sql stable
security definer
set search_path = ''
as $$
  select r.amount_micros from private.budget_records r where r.budget_resource_name = p_budget
$$;
comment on function private.budget_record(text) is
  'The database''s record of a budget now (null: never reported): the old amount of every change.';
alter function private.budget_record(text) owner to leadflow_money;
revoke execute on function private.budget_record(text) from public, anon, authenticated;
grant execute on function private.budget_record(text) to service_role;

create or replace function private.budget_day_base(p_budget text, p_day date) returns bigint
language sql stable
security definer
set search_path = ''
as $$
  -- The budget when the Amsterdam day began: the old amount of the first live change sent
  -- that day (which the database itself set from the record), else the record.
  -- The bodies of private.budget_day_reference and private.budget_record, inlined: called
  -- from this function, they were parsed and planned again on every call (0.1 ms each, per
  -- change checked).
  select coalesce(
    (select l.old_amount_micros
     from public.channel_orchestration_log l
     where l.budget_resource_name = p_budget and l.sent_on = p_day and l.mode = 'live'
     order by l.id
     limit 1),
    (select r.amount_micros from private.budget_records r where r.budget_resource_name = p_budget))
$$;
comment on function private.budget_day_base(text, date) is
  'A budget''s amount at the start of an Amsterdam day by the database''s record: the base of the '
  'daily limit. Null for a budget never reported.';
alter function private.budget_day_base(text, date) owner to leadflow_money;
revoke execute on function private.budget_day_base(text, date) from public, anon, authenticated;
grant execute on function private.budget_day_base(text, date) to service_role;

create or replace function private.budget_standing_amount(p_budget text) returns bigint
language sql stable
security definer
set search_path = ''
as $$
  -- The most a budget may stand at now: the highest of its record, its open external
  -- changes, and the new amount of its live changes in doubt or sent today (a failure
  -- may be a lie, so it counts too). Never reported: 0.
  select greatest(
    coalesce((select r.amount_micros from private.budget_records r
               where r.budget_resource_name = p_budget), 0),
    coalesce((select max(e.observed_micros) from private.budget_external_changes e
               where e.budget_resource_name = p_budget and e.accepted_at is null), 0),
    coalesce((select max(l.new_amount_micros) from public.channel_orchestration_log l
               where l.budget_resource_name = p_budget and l.mode = 'live'
                 and (l.status in ('sent', 'unknown')
                      or (l.sent_on = private.today_nl() and l.status in ('success', 'failed')))), 0)
  )::bigint
$$;
comment on function private.budget_standing_amount(text) is
  'The most a budget may stand at now (record, open external changes, live changes in doubt or of '
  'today): what the account daily cap counts for it.';
alter function private.budget_standing_amount(text) owner to leadflow_money;
revoke execute on function private.budget_standing_amount(text) from public, anon, authenticated;
grant execute on function private.budget_standing_amount(text) to service_role;

create or replace function private.budget_standing_amounts()
returns table (budget_resource_name text, amount_micros bigint)
language sql stable
security definer
set search_path = ''
as $$
  -- Every budget Leadflow maps, active or not: a deactivated segment's budget still spends.
  -- private.budget_standing_amount for all of them in one pass: called per budget, its
  -- three lookups and its call of today_nl() were planned again for each (9 ms a call).
  select cb.budget_resource_name,
         greatest(coalesce(r.amount_micros, 0), coalesce(e.amount_micros, 0),
                  coalesce(l.amount_micros, 0))::bigint
  from public.segment_campaign_budgets cb
  left join private.budget_records r on r.budget_resource_name = cb.budget_resource_name
  left join (
    select e.budget_resource_name, max(e.observed_micros) as amount_micros
    from private.budget_external_changes e
    where e.accepted_at is null
    group by e.budget_resource_name
  ) e on e.budget_resource_name = cb.budget_resource_name
  left join (
    select l.budget_resource_name, max(l.new_amount_micros) as amount_micros
    from public.channel_orchestration_log l
    where l.mode = 'live'
      and (l.status in ('sent', 'unknown')
           or (l.sent_on = private.today_nl() and l.status in ('success', 'failed')))
    group by l.budget_resource_name
  ) l on l.budget_resource_name = cb.budget_resource_name
$$;
comment on function private.budget_standing_amounts() is
  'Each mapped budget (active or not) at the most it may stand at now: the account daily cap''s count.';
alter function private.budget_standing_amounts() owner to leadflow_money;
revoke execute on function private.budget_standing_amounts() from public, anon, authenticated;
grant execute on function private.budget_standing_amounts() to service_role;

create or replace function private.channel_caps() returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(c.key, round(c.daily_cap * 1000000)::bigint), '{}')
  from public.ad_channels c
  where c.is_paid and c.daily_cap is not null
$$;
comment on function private.channel_caps() is
  'The daily cap of each paid channel that has one, in micros, by channel: {"microsoft_ads": 50000000}.';
alter function private.channel_caps() owner to leadflow_money;
revoke execute on function private.channel_caps() from public, anon, authenticated;

create or replace function private.channel_standing_totals() returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  -- Per capped channel, its mapped budgets (active or not) at the most each may stand at.
  select coalesce(jsonb_object_agg(t.channel, t.total), '{}')
  from (select cb.channel, sum(private.budget_standing_amount(cb.budget_resource_name))::bigint as total
        from public.segment_campaign_budgets cb
        join public.ad_channels c on c.key = cb.channel and c.daily_cap is not null
        group by cb.channel) t
$$;
comment on function private.channel_standing_totals() is
  'Per paid channel with a daily cap: the sum of its mapped budgets at the most they may stand at now.';
alter function private.channel_standing_totals() owner to leadflow_money;
revoke execute on function private.channel_standing_totals() from public, anon, authenticated;

-- -----------------------------------------------------------------------------
-- Reports from Google Ads
-- -----------------------------------------------------------------------------
create or replace function private.record_budget_observations(p_observed jsonb) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  seen record;
  written integer := 0;
  rec bigint;
begin
  if p_observed is null or jsonb_typeof(p_observed) <> 'array' then
    raise exception 'record_budget_observations needs an array of {budget_resource_name, amount_micros}'
      using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_observed) as x (budget_resource_name text, amount_micros bigint)
    where x.budget_resource_name is null or x.amount_micros is null or x.amount_micros < 0
       or x.amount_micros % 10000 <> 0
  ) then
    raise exception 'every observed budget needs a name and an amount in whole cents (micros, a '
      'multiple of 10000)' using errcode = '22023';
  end if;
  perform private.lock_money();
  for seen in
    select distinct on (x.budget_resource_name) x.*
    from jsonb_to_recordset(p_observed) as x (
      budget_resource_name text, amount_micros bigint, explicitly_shared boolean,
      reference_count integer, period text)
    -- Only budgets Leadflow maps: a report about anything else is no business of ours.
    where exists (select 1 from public.segment_campaign_budgets cb
                   where cb.budget_resource_name = x.budget_resource_name)
    order by x.budget_resource_name
  loop
    insert into private.budget_observations as o
      (budget_resource_name, amount_micros, explicitly_shared, reference_count, period, observed_at)
    values (seen.budget_resource_name, seen.amount_micros, coalesce(seen.explicitly_shared, false),
            coalesce(seen.reference_count, 1), coalesce(seen.period, 'DAILY'), now())
    on conflict (budget_resource_name) do update
      set amount_micros = excluded.amount_micros,
          explicitly_shared = excluded.explicitly_shared,
          reference_count = excluded.reference_count,
          period = excluded.period,
          observed_at = excluded.observed_at;
    written := written + 1;
    rec := (select r.amount_micros from private.budget_records r
             where r.budget_resource_name = seen.budget_resource_name);
    if rec is null then
      -- The first report of a budget is its record (and a later honest read that differs
      -- shows up as an external change).
      insert into private.budget_records (budget_resource_name, amount_micros, source)
      values (seen.budget_resource_name, seen.amount_micros, 'first_seen');
    elsif seen.amount_micros <> rec and not exists (
      -- Our own change on its way (sent, not yet confirmed) explains it.
      select 1 from public.channel_orchestration_log l
      where l.budget_resource_name = seen.budget_resource_name and l.mode = 'live'
        and l.status in ('sent', 'unknown') and l.new_amount_micros = seen.amount_micros
    ) then
      insert into private.budget_external_changes (budget_resource_name, record_micros, observed_micros)
      values (seen.budget_resource_name, rec, seen.amount_micros)
      on conflict do nothing;
    end if;
  end loop;
  return written;
end
$$;
comment on function private.record_budget_observations(jsonb) is
  'Keep what Google Ads reported for each mapped budget; a report that disagrees with the record is '
  'kept as an external change (never as the new record).';
alter function private.record_budget_observations(jsonb) owner to leadflow_money;

create or replace function public.record_budget_observations(p_observed jsonb) returns integer
language sql
set search_path = ''
as $$ select private.record_budget_observations(p_observed) $$;
comment on function public.record_budget_observations(jsonb) is
  'Keeps what Google Ads reported for each budget ([{budget_resource_name, amount_micros, ...}], whole '
  'cents); a disagreement with the database''s record becomes an external change, alerted.';

create or replace function private.accept_budget_amount(p_budget text, p_amount_micros bigint)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  accepted integer;
  -- The caller's verified claims, as PostgREST sets them (auth.uid() reads the same).
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  who uuid;
begin
  -- A person decides: an admin's own token, never the service role's key.
  if claims ->> 'role' is distinct from 'authenticated' or claims ->> 'sub' is null
     or claims ->> 'sub' !~ '^[0-9a-f-]{36}$' then
    raise exception 'only an admin (signed in as themselves) accepts a budget amount'
      using errcode = 'PT403';
  end if;
  who := (claims ->> 'sub')::uuid;
  if not private.is_admin() then  -- for an authenticated caller: an admin profile
    raise exception 'only an admin (signed in as themselves) accepts a budget amount'
      using errcode = 'PT403';
  end if;
  if p_amount_micros is null or p_amount_micros < 0 or p_amount_micros % 10000 <> 0 then
    raise exception 'the amount must be whole cents (micros, a multiple of 10000)' using errcode = 'PT422';
  end if;
  perform private.lock_money();
  if not exists (select 1 from private.budget_external_changes e
                  where e.budget_resource_name = p_budget and e.accepted_at is null
                    and e.observed_micros = p_amount_micros) then
    raise exception 'no open external change of % to % micros', p_budget, p_amount_micros
      using errcode = 'PT404';
  end if;
  update private.budget_external_changes e
     set accepted_at = now(), accepted_by = who
   where e.budget_resource_name = p_budget and e.accepted_at is null;
  get diagnostics accepted = row_count;
  update private.budget_records
     set amount_micros = p_amount_micros, source = 'accepted', log_id = null, recorded_at = now()
   where budget_resource_name = p_budget;
  return accepted;
end
$$;
comment on function private.accept_budget_amount(text, bigint) is
  'An admin accepts an amount Google Ads was seen to hold as the budget''s new record, closing its '
  'open external changes. Refused for anyone else, the service role included.';
alter function private.accept_budget_amount(text, bigint) owner to leadflow_money;

create or replace function public.accept_budget_amount(p_budget text, p_amount_micros bigint)
returns integer
language sql
set search_path = ''
as $$ select private.accept_budget_amount(p_budget, p_amount_micros) $$;
comment on function public.accept_budget_amount(text, bigint) is
  'Admins: make an externally changed amount (see budget_external_changes) the budget''s record.';

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

revoke execute on function private.record_budget_observations(jsonb) from public, anon, authenticated;
revoke execute on function public.record_budget_observations(jsonb) from public, anon, authenticated;
revoke execute on function private.accept_budget_amount(text, bigint) from public, anon;
revoke execute on function public.accept_budget_amount(text, bigint) from public, anon;
revoke execute on function public.last_seen_budgets(text[]) from public, anon, authenticated;
grant execute on function private.record_budget_observations(jsonb) to service_role;
grant execute on function public.record_budget_observations(jsonb) to service_role;
grant execute on function private.accept_budget_amount(text, bigint) to authenticated, service_role;
grant execute on function public.accept_budget_amount(text, bigint) to authenticated, service_role;
grant execute on function public.last_seen_budgets(text[]) to service_role;
