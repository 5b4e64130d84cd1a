-- =============================================================================
-- Job runs: one running run per job and day, leases, fencing, and the days
-- a job may run for.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- -----------------------------------------------------------------------------
-- job_runs
-- -----------------------------------------------------------------------------
create table public.job_runs (
  id uuid primary key default gen_random_uuid(),
  job text not null check (job in ('aggregate', 'plan', 'orchestrate', 'rollback')),
  day date not null,
  status text not null default 'running' check (status in ('running', 'success', 'failed')),
  triggered_by text not null,
  counts jsonb not null default '{}'::jsonb,
  error text,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  finished_at timestamptz,
  taken_over_by uuid,
  check ((status = 'running') = (finished_at is null)),
  check (taken_over_by is null or status = 'failed'),
  check (status <> 'failed' or error is not null)
);
-- Two runs of the same job for the same day never run at once.
create unique index job_runs_one_running_idx on public.job_runs (job, day) where status = 'running';
create index job_runs_job_started_idx on public.job_runs (job, started_at desc);

comment on table public.job_runs is 'Every run of every Leadflow job: when, for which day, how it ended. Admin-only.';
comment on column public.job_runs.job is 'aggregate, plan, orchestrate or rollback.';
comment on column public.job_runs.day is 'The Dutch calendar day the run was for.';
comment on column public.job_runs.status is 'running, success or failed.';
comment on column public.job_runs.counts is 'What the run did, e.g. {"segments": 180, "changed": 12}.';
comment on column public.job_runs.error is 'Why the run failed.';
comment on column public.job_runs.heartbeat_at is
  'Last sign of life. A run holds a lease while it beats; one silent for 30 minutes may be taken over.';
comment on column public.job_runs.taken_over_by is
  'The run that took this one''s lease: from then on this run can claim, send and complete nothing.';

-- The runs are the fencing of every money write: only the functions below (owned by
-- leadflow_money, like the table) write them; the service role reads them.
alter table public.job_runs owner to leadflow_money;
alter table public.job_runs enable row level security;
revoke all on table public.job_runs from anon, authenticated, service_role;
-- No grant to authenticated: pg_graphql would list the table to every signed-in user
-- (lint pg_graphql_admin_table_exposed); admins read it through private.*_for_admin.
grant select on table public.job_runs to service_role;

-- Fencing is one-way: a run moves running -> success | failed (taken over is failed, with
-- taken_over_by), and an ended run never changes again, whoever writes.
create or replace function private.job_runs_move_forward() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op in ('DELETE', 'TRUNCATE') then
    raise exception 'job_runs keeps every run: rows cannot be deleted' using errcode = '42501';
  end if;
  if old.status <> 'running' then
    raise exception 'job run % has ended (%): it never runs or changes again', old.id, old.status
      using errcode = '42501';
  end if;
  if (new.id, new.job, new.day, new.triggered_by, new.started_at)
     is distinct from (old.id, old.job, old.day, old.triggered_by, old.started_at) then
    raise exception 'job run %: only its status, counts, error, heartbeat and end may change', old.id
      using errcode = '42501';
  end if;
  return new;
end
$$;
comment on function private.job_runs_move_forward() is
  'Trigger: a job run only moves forward (running -> success/failed), is never revived or deleted.';
alter function private.job_runs_move_forward() owner to leadflow_money;
create trigger job_runs_move_forward
  before update or delete on public.job_runs
  for each row execute function private.job_runs_move_forward();
create trigger job_runs_no_truncate
  before truncate on public.job_runs
  for each statement execute function private.job_runs_move_forward();
create policy "Admins can read job runs"
  on public.job_runs for select to authenticated
  using ((select private.is_admin()));

-- -----------------------------------------------------------------------------
-- Job runs: one running run per job and day; stale runs recognised
-- -----------------------------------------------------------------------------
create or replace function public.job_day_window()
returns table (earliest date, latest date, today date)
language sql stable
security definer
set search_path = ''
as $$
  -- From a year before the marketplace's first lead (or today, without leads) to tomorrow.
  -- min(created_at) first (the index answers it), then the Amsterdam day of it.
  select coalesce(((select min(l.created_at) from public.leads l) at time zone 'Europe/Amsterdam')::date,
                  private.today_nl()) - 366,
         private.today_nl() + 1,
         private.today_nl()
$$;
comment on function public.job_day_window() is
  'The days a job may run for: from a year (366 days) before the first lead to tomorrow (Amsterdam), and today.';

create or replace function private.check_job_days(p_first date, p_last date) returns void
language plpgsql stable
set search_path = ''
as $$
declare
  w record;
begin
  select * into w from public.job_day_window();
  if p_first is null or p_last is null or p_first > p_last then
    raise exception 'a job needs a day, or a range whose first day is not after its last'
      using errcode = '22023';
  end if;
  if p_first < w.earliest or p_last > w.latest then
    raise exception 'day % is outside the days a job may run for: % to %',
      case when p_first < w.earliest then p_first else p_last end, w.earliest, w.latest
      using errcode = '22023', hint = 'before the first lead there is nothing to compute; after tomorrow nothing has happened';
  end if;
end
$$;
comment on function private.check_job_days(date, date) is
  'Refuses (22023) a job day or range outside public.job_day_window().';

create or replace function private.start_job_run(
  p_job text,
  p_day date,
  p_triggered_by text,
  p_first date
)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  run_id uuid;
  running_since timestamptz;
begin
  perform private.check_job_days(coalesce(p_first, p_day), p_day);
  run_id := gen_random_uuid();
  -- A run silent for 30 minutes has lost its lease: it is taken over, and fenced
  -- (claim, complete and finish refuse a run that is not running).
  update public.job_runs
     set status = 'failed',
         error = format('stale: no heartbeat since %s; taken over by run %s', heartbeat_at, run_id),
         finished_at = now(),
         taken_over_by = run_id
   where job = p_job and day = p_day and status = 'running'
     and heartbeat_at < now() - private.job_lease();
  begin
    insert into public.job_runs (id, job, day, triggered_by)
    values (run_id, p_job, p_day, p_triggered_by);
  exception when unique_violation then
    select started_at into running_since from public.job_runs
     where job = p_job and day = p_day and status = 'running';
    raise exception '% for % is already running (started %)', p_job, p_day, running_since
      using errcode = '23505';
  end;
  return run_id;
end
$$;
alter function private.start_job_run(text, date, text, date) owner to leadflow_money;

create or replace function public.start_job_run(
  p_job text,
  p_day date,
  p_triggered_by text,
  p_first date default null
)
returns uuid
language sql
set search_path = ''
as $$ select private.start_job_run(p_job, p_day, p_triggered_by, p_first) $$;
comment on function public.start_job_run(text, date, text, date) is
  'Record the start of a job run for a day (or the range p_first..p_day) inside job_day_window(); '
  'refused (23505) while a run of the same job and day holds its lease. A run without a heartbeat '
  'for private.job_lease() is taken over first.';

create or replace function private.job_lease() returns interval
language sql immutable
set search_path = ''
as $$ select interval '30 minutes' $$;
comment on function private.job_lease() is 'How long a run holds its lease without a heartbeat.';

create or replace function private.heartbeat_job_run(p_run_id uuid) returns boolean
language sql
security definer
set search_path = ''
as $$
  with beat as (
    update public.job_runs set heartbeat_at = now()
     where id = p_run_id and status = 'running'
    returning 1
  )
  select exists (select 1 from beat)
$$;
alter function private.heartbeat_job_run(uuid) owner to leadflow_money;

create or replace function public.heartbeat_job_run(p_run_id uuid) returns boolean
language sql
set search_path = ''
as $$ select private.heartbeat_job_run(p_run_id) $$;
comment on function public.heartbeat_job_run(uuid) is
  'A running job''s sign of life; false when the run no longer holds its lease (taken over or ended).';

create or replace function private.finish_job_run(
  p_run_id uuid, p_status text, p_counts jsonb, p_error text
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_status not in ('success', 'failed') then
    raise exception 'finish_job_run: status must be success or failed' using errcode = '22023';
  end if;
  update public.job_runs
     set status = p_status, counts = coalesce(p_counts, '{}'::jsonb),
         error = case when p_status = 'failed' then coalesce(p_error, 'failed') end,
         finished_at = now(), heartbeat_at = now()
   where id = p_run_id and status = 'running';
  if not found then
    raise exception 'job run % is not running (taken over or already finished)', p_run_id
      using errcode = 'PT409';
  end if;
end
$$;
alter function private.finish_job_run(uuid, text, jsonb, text) owner to leadflow_money;

create or replace function public.finish_job_run(
  p_run_id uuid, p_status text, p_counts jsonb default '{}'::jsonb, p_error text default null
)
returns void
language sql
set search_path = ''
as $$ select private.finish_job_run(p_run_id, p_status, p_counts, p_error) $$;
comment on function public.finish_job_run(uuid, text, jsonb, text) is
  'Record how a running job run ended, with its counts or error.';

revoke execute on function public.job_day_window() from public, anon, authenticated;
revoke execute on function private.check_job_days(date, date) from public, anon, authenticated;
revoke execute on function private.job_lease() from public, anon;
revoke execute on function public.start_job_run(text, date, text, date) from public, anon, authenticated;
revoke execute on function public.heartbeat_job_run(uuid) from public, anon, authenticated;
revoke execute on function public.finish_job_run(uuid, text, jsonb, text) from public, anon, authenticated;
grant execute on function public.job_day_window() to service_role;
grant execute on function private.check_job_days(date, date) to service_role;
grant execute on function private.job_lease() to authenticated, service_role;
grant execute on function public.start_job_run(text, date, text, date) to service_role;
grant execute on function public.heartbeat_job_run(uuid) to service_role;
grant execute on function public.finish_job_run(uuid, text, jsonb, text) to service_role;
revoke execute on function private.start_job_run(text, date, text, date) from public, anon, authenticated;
revoke execute on function private.heartbeat_job_run(uuid) from public, anon, authenticated;
revoke execute on function private.finish_job_run(uuid, text, jsonb, text) from public, anon, authenticated;
grant execute on function private.start_job_run(text, date, text, date) to service_role;
grant execute on function private.heartbeat_job_run(uuid) to service_role;
grant execute on function private.finish_job_run(uuid, text, jsonb, text) to service_role;
-- What the money owner's functions call.
grant execute on function public.job_day_window(), private.check_job_days(date, date),
  private.job_lease() to leadflow_money;

-- -----------------------------------------------------------------------------
-- The audit log's write path
-- -----------------------------------------------------------------------------
create or replace function private.check_run_holds_lease(p_run_id uuid) returns void
language plpgsql
set search_path = ''
as $$
declare
  run record;
begin
  -- Locks the run's row: a takeover (public.start_job_run) waits for this transaction,
  -- and after a takeover this refuses. The lease is renewed.
  select r.status, r.heartbeat_at, r.taken_over_by into run
    from public.job_runs r where r.id = p_run_id for update;
  if not found or run.status <> 'running' or run.heartbeat_at < now() - private.job_lease() then
    raise exception 'run % no longer holds its lease (%): it may claim, send and complete nothing',
      p_run_id,
      case when not found then 'no such run'
           when run.taken_over_by is not null then format('taken over by run %s', run.taken_over_by)
           when run.status <> 'running' then 'finished'
           else format('no heartbeat for %s', private.job_lease()) end
      using errcode = 'PT409';
  end if;
  update public.job_runs set heartbeat_at = now() where id = p_run_id;
end
$$;
comment on function private.check_run_holds_lease(uuid) is
  'Refuses (PT409) a run that is not running or whose lease ran out (the fencing of its writes); renews it.';

create or replace function private.send_window() returns interval
language sql immutable
set search_path = ''
as $$ select interval '25 minutes' $$;
comment on function private.send_window() is
  'A claimed change reaches Google Ads within this time of its claim or not at all: the sender starts '
  'within a minute of the claim (SEND_WITHIN_SECONDS), and the gateway''s hard deadline per call is 20 '
  'minutes (leadflow.google_ads.SEND_DEADLINE_SECONDS). Shorter than the 30-minute lease, so a run '
  'taken over has sent all it will.';

alter function private.check_run_holds_lease(uuid) owner to leadflow_money;
revoke execute on function private.check_run_holds_lease(uuid) from public, anon, authenticated, service_role;
revoke execute on function private.send_window() from public, anon;
grant execute on function private.send_window() to authenticated, service_role, leadflow_money;
