-- =============================================================================
-- Dutch public holidays and partner capacity per segment and day.
-- Formulas: docs/FORMULAS.md.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- public_holidays: filled from the maintained `holidays` library by the plan job
-- -----------------------------------------------------------------------------
create table public.public_holidays (
  day date primary key,
  name text not null,
  synced_at timestamptz not null default now()
);
comment on table public.public_holidays is
  'Dutch public holidays (non-working days), synced from the Python holidays library by the plan job.';
comment on column public.public_holidays.name is 'Name of the holiday.';

alter table public.public_holidays enable row level security;
revoke all on table public.public_holidays from anon, authenticated;
grant select on table public.public_holidays to authenticated;
grant all on table public.public_holidays to service_role;
create policy "Partners and admins can read public holidays"
  on public.public_holidays for select to authenticated using ((select private.has_profile()));

create or replace function public.sync_public_holidays(p_year integer, p_holidays jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  written integer;
begin
  if p_year is null or p_year < 2000 or p_year > 2100 then
    raise exception 'sync_public_holidays: year % is out of range', p_year using errcode = '22023';
  end if;
  if jsonb_typeof(p_holidays) is distinct from 'array' or jsonb_array_length(p_holidays) = 0 then
    raise exception 'sync_public_holidays: p_holidays must be a non-empty array of {day, name}'
      using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_holidays) as h (day date, name text)
    where h.day is null or extract(year from h.day) <> p_year or coalesce(btrim(h.name), '') = ''
  ) then
    raise exception 'sync_public_holidays: every holiday needs a day in % and a name', p_year
      using errcode = '22023';
  end if;
  delete from public.public_holidays
   where extract(year from day) = p_year
     and day not in (select h.day from jsonb_to_recordset(p_holidays) as h (day date, name text));
  insert into public.public_holidays (day, name)
  select h.day, h.name from jsonb_to_recordset(p_holidays) as h (day date, name text)
  on conflict (day) do update set name = excluded.name, synced_at = now()
    where public.public_holidays.name is distinct from excluded.name;
  select count(*) into written from public.public_holidays where extract(year from day) = p_year;
  return written;
end
$$;
comment on function public.sync_public_holidays(integer, jsonb) is
  'Replace the holidays of one year with [{day, name}, ...]; returns how many that year now has.';
revoke execute on function public.sync_public_holidays(integer, jsonb) from public, anon, authenticated;
grant execute on function public.sync_public_holidays(integer, jsonb) to service_role;

-- -----------------------------------------------------------------------------
-- Capacity: a partner's monthly quota over its provinces and the month's working days
-- -----------------------------------------------------------------------------
create or replace function public.segment_capacity(p_from date, p_to date)
returns table (
  segment_id uuid,
  day date,
  active_partners integer,
  monthly_capacity numeric,
  working_days integer,
  is_working_day boolean,
  capacity numeric
)
language sql stable
set search_path = ''
as $$
  with days as (
    select d::date as day, date_trunc('month', d)::date as month
    from generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') as d
  ),
  calendar as (
    select c::date as day, date_trunc('month', c)::date as month,
           extract(isodow from c) < 6 and h.day is null as working
    from (select distinct month from days) m
    cross join generate_series(m.month::timestamp, (m.month + interval '1 month' - interval '1 day'),
                               interval '1 day') as c
    left join public.public_holidays h on h.day = c::date
  ),
  month_working_days as (
    select month, count(*) filter (where working)::integer as working_days
    from calendar group by month
  ),
  shares as (
    select s.id as segment_id, sub.partner_id, sub.starts_on, sub.ends_on,
           sub.monthly_lead_quota::numeric / cardinality(sub.region_codes) as monthly_share
    from public.subscriptions sub
    join public.lead_segments s
      on s.industry_id = sub.industry_id and s.region_code = any (sub.region_codes)
    where sub.status = 'active'
  ),
  segment_days as (
    -- Per segment and day first, the calendar joined to the result: the shares of every day
    -- are sorted on two keys for count(distinct), not carried through two joins and sorted
    -- on five.
    select sh.segment_id, d.day, count(distinct sh.partner_id)::integer as partners,
           sum(sh.monthly_share) as monthly_share
    from days d
    join shares sh on sh.starts_on <= d.day and (sh.ends_on is null or sh.ends_on >= d.day)
    group by sh.segment_id, d.day
  )
  select sd.segment_id, sd.day,
         sd.partners,
         round(sd.monthly_share, 2),
         mw.working_days,
         c.working,
         case when c.working and mw.working_days > 0
              then round(sd.monthly_share / mw.working_days, 2) else 0 end
  from segment_days sd
  join days d on d.day = sd.day
  join calendar c on c.day = sd.day
  join month_working_days mw on mw.month = d.month
$$;
comment on function public.segment_capacity(date, date) is
  'Per segment and Dutch day: active partners, monthly capacity (sum of quota / provinces covered), '
  'working days in the month, and daily capacity = monthly / working days on a working day, else 0.';
revoke execute on function public.segment_capacity(date, date) from public, anon, authenticated;
grant execute on function public.segment_capacity(date, date) to service_role;
