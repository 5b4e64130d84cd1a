-- No role writes a money table directly: the service role (the jobs' key, also held
-- by the CLI and engineers) only reads the audit log, the job runs, the budget
-- mappings and the settings, and cannot even see the private record of budgets;
-- every write goes through the security-definer functions of leadflow_money.
-- docs/MONEY_SAFETY.md, "threat model"; issue 21.
begin;
select plan(28);

-- The catalog: exactly these privileges, nothing more.
select table_privs_are('public', 'channel_orchestration_log', 'service_role', array['SELECT'],
  'the service role only reads the orchestration log');
select table_privs_are('public', 'job_runs', 'service_role', array['SELECT'],
  'the service role only reads job runs');
select table_privs_are('public', 'segment_campaign_budgets', 'service_role', array['SELECT'],
  'the service role only reads the budget mappings');
select table_privs_are('public', 'orchestration_settings', 'service_role', array['SELECT'],
  'the service role only reads the orchestration settings (the kill switch)');
select table_privs_are('public', 'orchestration_settings_history', 'service_role', array['SELECT'],
  'the service role only reads the settings history');
select table_privs_are('public', 'ad_channels', 'service_role', array['SELECT'],
  'the service role only reads the channels (their kill switches and caps)');
select table_privs_are('private', 'budget_observations', 'service_role', array[]::text[],
  'the service role has no privilege on private.budget_observations');
select table_privs_are('private', 'budget_records', 'service_role', array[]::text[],
  'the service role has no privilege on private.budget_records');
select table_privs_are('private', 'budget_external_changes', 'service_role', array[]::text[],
  'the service role has no privilege on private.budget_external_changes');
select table_privs_are('private', 'money_ledger', 'service_role', array[]::text[],
  'the service role has no privilege on private.money_ledger');
select is(
  (select array_agg(c.oid::regclass::text order by c.oid::regclass::text)
     from pg_class c
    where c.oid in ('public.channel_orchestration_log'::regclass, 'public.job_runs'::regclass,
                    'private.budget_observations'::regclass, 'private.budget_records'::regclass,
                    'private.budget_external_changes'::regclass, 'private.money_ledger'::regclass)
      and c.relowner = 'leadflow_money'::regrole),
  array['channel_orchestration_log', 'job_runs', 'private.budget_external_changes',
        'private.budget_observations', 'private.budget_records', 'private.money_ledger'],
  'the money owner (leadflow_money), not the API roles'' owner, owns the log, the runs and the budget record');

-- The same, as the service role would try it (PostgREST: role from the JWT).
insert into public.job_runs (id, job, day, triggered_by)
values ('00000000-0000-4000-8009-0000000000c1', 'orchestrate', private.today_nl(), 'pgtap');
set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';

select throws_ok(
  $$ insert into public.channel_orchestration_log
       (run_id, day, segment_id, budget_resource_name, action, old_amount_micros,
        new_amount_micros, reason, mode, triggered_by)
     values ('00000000-0000-4000-8009-0000000000c1', private.today_nl(),
             '00000000-0000-4000-8002-000000000011', 'customers/1234567890/campaignBudgets/9007',
             'increase', 50000000, 500000000, 'x', 'live', 'pgtap') $$,
  '42501', null, 'the service role cannot insert a decision past log_budget_decisions');
select throws_ok(
  $$ update public.channel_orchestration_log set status = 'sent', sent_on = private.today_nl(),
       claimed_at = now() where id > 0 $$,
  '42501', null, 'the service role cannot mark a decision sent past the claim');
select throws_ok(
  $$ delete from public.channel_orchestration_log where id > 0 $$,
  '42501', null, 'the service role cannot delete from the orchestration log');
select throws_ok(
  $$ truncate public.channel_orchestration_log $$,
  '42501', null, 'the service role cannot truncate the orchestration log');
select throws_ok(
  $$ update public.job_runs set heartbeat_at = now() where id = '00000000-0000-4000-8009-0000000000c1' $$,
  '42501', null, 'the service role cannot write a job run directly');
select throws_ok(
  $$ insert into public.segment_campaign_budgets (segment_id, customer_id, campaign_id, budget_resource_name)
     values ('00000000-0000-4000-8002-000000000011', '1234567890', '4242',
             'customers/1234567890/campaignBudgets/4242') $$,
  '42501', null, 'the service role cannot map a new budget');
select throws_ok(
  $$ update public.segment_campaign_budgets set is_active = true where true $$,
  '42501', null, 'the service role cannot change a budget mapping');
select throws_ok(
  $$ delete from public.segment_campaign_budgets where true $$,
  '42501', null, 'the service role cannot unmap a budget');
select throws_ok(
  $$ update public.orchestration_settings set changes_enabled = true, max_daily_change = 0.2 $$,
  '42501', null, 'the service role cannot turn the kill switch off or widen the daily limit');
select throws_ok(
  $$ update public.ad_channels set kill_switch = false, daily_cap = null where is_paid $$,
  '42501', null, 'the service role cannot turn a channel''s kill switch off or lift its cap');
select throws_ok(
  $$ insert into public.ad_channels (key, label, is_paid, budget_name_pattern, account_pattern)
     values ('any_ads', 'Any', true, '.*', '.*') $$,
  '42501', null, 'the service role cannot add a channel whose budgets anything matches');
select throws_ok(
  $$ insert into public.orchestration_settings_history (old_settings, new_settings) values ('{}', '{}') $$,
  '42501', null, 'the service role cannot write the settings history');
select throws_ok(
  $$ insert into private.budget_records (budget_resource_name, amount_micros, source)
     values ('customers/1234567890/campaignBudgets/9007', 500000000, 'first_seen') $$,
  '42501', null, 'the service role cannot write the database''s record of a budget');
select throws_ok(
  $$ select private.change_refusal('adjust', 'live', private.today_nl(),
       'customers/1234567890/campaignBudgets/9007', null, 1, 2, 1, null) $$,
  '42501', null, 'the service role cannot call the private rule function itself');
select throws_ok(
  $$ select private.record_applied('{1}') $$,
  '42501', null, 'the service role cannot make a log row the budget''s record');

-- Read-only for the jobs is not invisible: it reads what it needs.
select lives_ok(
  $$ select count(*) from public.channel_orchestration_log, public.job_runs,
       public.segment_campaign_budgets, public.orchestration_settings, public.ad_channels $$,
  'the service role reads the log, the runs, the mappings, the settings and the channels');
select is((select array_agg(key order by key) from public.paid_channels()),
  array['google_ads', 'microsoft_ads'], 'the service role lists the paid channels');

select * from finish();
rollback;
