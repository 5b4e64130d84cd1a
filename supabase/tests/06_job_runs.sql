-- Fencing is one-way: a job run moves running -> success | failed (taken over is
-- failed with taken_over_by) through functions only, and nothing revives it; a run
-- that lost its lease can claim, send and complete nothing.
-- supabase/schemas/07_job_runs.sql.
begin;
select plan(14);

set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';

do $$
begin
  perform set_config('spec.done',
    public.start_job_run('aggregate', private.today_nl(), 'pgtap 06_job_runs')::text, true);
  perform public.finish_job_run(current_setting('spec.done')::uuid, 'success', '{"segments": 9}');
end
$$;

-- The service role writes no run directly.
select throws_ok(
  $$ update public.job_runs set status = 'running', finished_at = null
      where id = current_setting('spec.done')::uuid $$,
  '42501', null, 'the service role cannot revive a finished run by UPDATE');
select throws_ok(
  $$ insert into public.job_runs (job, day, triggered_by) values ('orchestrate', private.today_nl(), 'x') $$,
  '42501', null, 'the service role cannot insert a run past start_job_run');
select throws_ok(
  $$ delete from public.job_runs where id = current_setting('spec.done')::uuid $$,
  '42501', null, 'the service role cannot delete a run');
select throws_ok(
  $$ select public.finish_job_run(current_setting('spec.done')::uuid, 'failed', '{}', 'again') $$,
  'PT409', null, 'a finished run cannot be finished again');
select is(public.heartbeat_job_run(current_setting('spec.done')::uuid), false,
  'a finished run gets no heartbeat');

-- A run silent past its lease is taken over, and fenced.
reset role;
insert into public.job_runs (id, job, day, triggered_by, started_at, heartbeat_at)
values ('00000000-0000-4000-8009-0000000000a1', 'orchestrate', private.today_nl(), 'pgtap stale',
        now() - interval '2 hours', now() - interval '31 minutes');
set local role service_role;
do $$
begin
  perform set_config('spec.new',
    public.start_job_run('orchestrate', private.today_nl(), 'pgtap 06_job_runs')::text, true);
end
$$;
select is(
  (select (r.status, r.taken_over_by = current_setting('spec.new')::uuid)::text
     from public.job_runs r where r.id = '00000000-0000-4000-8009-0000000000a1'),
  '(failed,t)', 'a run silent for more than the lease is taken over by the next start');
select is(public.heartbeat_job_run('00000000-0000-4000-8009-0000000000a1'), false,
  'a taken-over run gets no heartbeat');
select throws_ok(
  $$ select * from public.claim_budget_decisions('00000000-0000-4000-8009-0000000000a1', '{1}') $$,
  'PT409', null, 'a taken-over run claims nothing');
select throws_ok(
  $$ select * from public.log_budget_decisions('00000000-0000-4000-8009-0000000000a1',
       private.today_nl(), 'adjust', 'live', 'pgtap', '[]') $$,
  'PT409', null, 'a taken-over run logs nothing');
select throws_ok(
  $$ select public.complete_budget_decisions('00000000-0000-4000-8009-0000000000a1', '[]') $$,
  'PT409', null, 'a taken-over run completes nothing');
select throws_ok(
  $$ select public.start_job_run('orchestrate', private.today_nl(), 'pgtap twice') $$,
  '23505', null, 'a second run of the same job and day is refused while one holds its lease');

-- Not even the table's owner revives a run: the trigger refuses.
reset role;
select throws_like(
  $$ update public.job_runs set status = 'running', finished_at = null, error = null,
       taken_over_by = null where id = '00000000-0000-4000-8009-0000000000a1' $$,
  '%has ended (failed): it never runs or changes again%',
  'a taken-over run is never revived, not by the owner');
select throws_like(
  $$ update public.job_runs set status = 'running', finished_at = null
      where id = current_setting('spec.done')::uuid $$,
  '%has ended (success)%', 'a finished run is never revived, not by the owner');
select throws_ok(
  $$ delete from public.job_runs where id = current_setting('spec.done')::uuid $$,
  '42501', 'job_runs keeps every run: rows cannot be deleted', 'not even the owner deletes a run');

select * from finish();
rollback;
