-- =============================================================================
-- Authorization: who is calling, and the database's day.
-- Helpers every policy and money rule uses: private, security definer, pinned
-- search_path. The profile-role guard keeps users from making themselves admin.
-- =============================================================================

-- The database's day: subscriptions, job windows and every money rule are cut on the
-- Amsterdam calendar day of the database's clock.

create or replace function private.today_nl() returns date
language sql stable
security definer
set search_path = ''
as $$
  select (now() at time zone 'Europe/Amsterdam')::date
$$;
comment on function private.today_nl() is
  'Today in the Netherlands by the database''s clock: the day subscriptions, job windows and every '
  'money rule are cut on.';

create or replace function private.is_admin() returns boolean
language sql stable security definer
set search_path = ''
as $$
  select coalesce((select auth.jwt() ->> 'role') = 'service_role', false)
      or exists (
           select 1 from public.profiles p
           where p.id = (select auth.uid()) and p.role = 'admin'
         )
$$;
comment on function private.is_admin() is
  'True for an admin profile or the service role: may see money and change segments.';

create or replace function private.has_profile() returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.profiles p
    where p.id = (select auth.uid()) and p.role in ('partner', 'admin')
  )
$$;
comment on function private.has_profile() is
  'True for a user with a partner or admin profile; a bare sign-up (token, no profile) is not.';

create or replace function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- =============================================================================
-- profiles.role (the admin flag Leadflow reads) is not for users to write.
--
-- The marketplace owns profiles and its policies: many let users update their
-- own row, some let them insert it. Leadflow reads admin rights from
-- profiles.role (private.is_admin), so a trigger refuses every change of the
-- role that comes from an end user's request (a JWT of anon or authenticated,
-- also through a security definer function), unless that user is an admin.
-- The service role, the dashboard and migrations (no end-user JWT) may. A
-- trigger holds whatever grants and policies the table has or gets later.
-- docs/DEPLOY.md ("Who is an admin") explains the choice.
-- =============================================================================

create or replace function private.guard_profile_role() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  request_role text := coalesce(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '');
begin
  if (request_role in ('anon', 'authenticated') or current_user in ('anon', 'authenticated'))
     and not (select private.is_admin())
     and ((tg_op = 'INSERT' and new.role is distinct from 'partner')
          or (tg_op = 'UPDATE' and new.role is distinct from old.role))
  then
    raise exception 'only an admin or the service role can set profiles.role'
      using errcode = '42501';
  end if;
  return new;
end
$$;
comment on function private.guard_profile_role() is
  'Trigger: refuses a change of profiles.role (or a new profile that is not a partner) requested by a non-admin end user.';
revoke execute on function private.guard_profile_role() from public, anon;

-- A short SHARE ROW EXCLUSIVE lock on profiles (a small table): profile writes
-- wait for this file's commit, reads do not.
drop trigger if exists profiles_guard_role on public.profiles;
create trigger profiles_guard_role
  before insert or update on public.profiles
  for each row execute function private.guard_profile_role();
