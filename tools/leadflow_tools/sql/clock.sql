-- =============================================================================
-- The simulated clock (tools only; never in supabase/migrations).
--
-- Every money rule is cut on private.today_nl(), the Amsterdam day of the
-- database's clock. A demo or a simulation steers day after day in minutes, so
-- it pins that day here, as the database owner (leadflow_tools.simclock). The
-- deployed today_nl() reads the real clock; this replaces it on local databases
-- only, with the same signature, so its grants stay.
-- =============================================================================

create table if not exists private.clock (
  id boolean primary key default true check (id),
  today date not null
);
comment on table private.clock is
  'Local databases only (leadflow tools): a simulation pins "today" here; no API role can read or write it.';
revoke all on table private.clock from public, anon, authenticated, service_role;

create or replace function private.today_nl() returns date
language sql stable
security definer
set search_path = ''
as $$
  select coalesce((select c.today from private.clock c),
                  (now() at time zone 'Europe/Amsterdam')::date)
$$;
comment on function private.today_nl() is
  'Today in the Netherlands by the database''s clock, or the day a local simulation pinned in private.clock.';
