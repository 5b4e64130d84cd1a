-- The rules of a budget change, as the service role (the jobs' key) would attempt
-- them: whatever it asks, a change beyond the daily limit, outside the bounds, of an
-- unmapped or inactive budget, a second one the same day, a hold, or anything while
-- the kill switch is on is logged skipped with why, and the claim re-checks at send
-- time. docs/MONEY_SAFETY.md; supabase/schemas/16_change_rules.sql, 17_claims_and_caps.sql.
--
-- Budgets (supabase/seed.sql: campaignBudgets/9000 + the segment's rank by code),
-- all reported by Google Ads at 50 euro except 9009 (140 euro); bounds 10..150 euro.
--   9001 dakdekker_noord_brabant   pending, then the kill switch at send time
--   9002 dakdekker_utrecht         twice in one call
--   9003 dakdekker_zuid_holland    pending, then its segment deactivated
--   9004 loodgieter_noord_brabant  its segment inactive
--   9005 loodgieter_utrecht        its mapping inactive
--   9006 loodgieter_zuid_holland   holds; the kill switch
--   9007 schilder_noord_brabant    +20 % sent and confirmed, then a second change
--   9008 schilder_utrecht          just past +/-20 %
--   9009 schilder_zuid_holland     over the segment's maximum
begin;
select plan(24);

update public.lead_segments set is_active = false where code = 'loodgieter_noord_brabant';
update public.segment_campaign_budgets set is_active = false
 where budget_resource_name = 'customers/1234567890/campaignBudgets/9005';

set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';

select is(
  public.record_budget_observations(
    '[{"budget_resource_name": "customers/1234567890/campaignBudgets/9001", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9002", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9003", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9004", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9005", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9006", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9007", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9008", "amount_micros": 50000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/9009", "amount_micros": 140000000},
      {"budget_resource_name": "customers/1234567890/campaignBudgets/1", "amount_micros": 50000000}]'),
  9,
  'Google Ads'' report is kept for the nine mapped budgets; the unmapped one is ignored'
);

do $$
begin
  perform set_config('spec.run',
    public.start_job_run('orchestrate', private.today_nl(), 'pgtap 05_budget_changes')::text, true);
end
$$;

-- One decision logged through the write path; its status and why, as one text.
create temp table decided (budget text, outcome text) on commit drop;
create function pg_temp.decide(p_budget text, p_action text, p_new bigint, p_gap numeric)
returns text language sql as $$
  insert into decided
  select d.budget_resource_name, d.status || ': ' || coalesce(d.error, '')
  from public.log_budget_decisions(
    current_setting('spec.run')::uuid, private.today_nl(), 'adjust', 'live', 'pgtap',
    jsonb_build_array(jsonb_build_object(
      'budget_resource_name', 'customers/1234567890/campaignBudgets/' || p_budget,
      'action', p_action, 'new_amount_micros', p_new, 'expected_gap', p_gap,
      'reason', 'pgtap spec'))) d
  returning outcome
$$;
create function pg_temp.log_id(p_budget text, p_status text) returns bigint language sql as $$
  select max(l.id) from public.channel_orchestration_log l
  where l.budget_resource_name = 'customers/1234567890/campaignBudgets/' || p_budget
    and l.status = p_status
$$;
create function pg_temp.claim(p_id bigint) returns text language sql as $$
  select coalesce(string_agg(c.status || ': ' || coalesce(c.error, ''), '; '), 'nothing claimed')
  from public.claim_budget_decisions(current_setting('spec.run')::uuid, array[p_id]) c
$$;

-- Within the daily limit: logged pending, claimed, confirmed.
select is(pg_temp.decide('9007', 'increase', 60000000, 2), 'pending: ',
  'a raise of exactly +20 % of the day''s base is logged pending');
select is(pg_temp.claim(pg_temp.log_id('9007', 'pending')), 'sent: ',
  'and the claim lets it go');
select is(
  public.complete_budget_decisions(current_setting('spec.run')::uuid,
    jsonb_build_array(jsonb_build_object('id', pg_temp.log_id('9007', 'sent'), 'status', 'success'))),
  1, 'Google Ads'' success is recorded');

-- The daily limit, the bounds, the mapping, the active flags.
select matches(pg_temp.decide('9008', 'increase', 60010000, 2),
  '^skipped: 60\.01 euro is more than 20 % from today''s starting budget of 50\.00 euro',
  'a raise of one cent past +20 % is logged skipped, with the limit as reason');
select matches(pg_temp.decide('9008', 'decrease', 39990000, -2),
  '^skipped: 39\.99 euro is more than 20 % from today''s starting budget',
  'a cut of one cent past -20 % is logged skipped');
select matches(pg_temp.decide('9009', 'increase', 160000000, 2),
  '^skipped: 160\.00 euro is outside the segment''s bounds 10\.00 \.\. 150\.00 euro',
  'a raise within +20 % but over the segment''s maximum is logged skipped');
select matches(pg_temp.decide('1', 'increase', 55000000, 2),
  '^skipped: the budget is not mapped to a segment',
  'a change of a budget Leadflow does not map is logged skipped');
select matches(pg_temp.decide('9004', 'increase', 55000000, 2),
  '^skipped: segment loodgieter_noord_brabant is inactive',
  'a change of an inactive segment''s budget is logged skipped');
select matches(pg_temp.decide('9005', 'increase', 55000000, 2),
  '^skipped: the budget''s mapping is inactive',
  'a change of a budget whose mapping is inactive is logged skipped');

-- One change per budget per day.
select matches(pg_temp.decide('9007', 'increase', 66000000, 2),
  '^skipped: already changed today \(log #\d+\); not applied twice',
  'a second change of a budget on the same day is logged skipped');
select is(
  (select string_agg(d.status || ': ' || coalesce(d.error, ''), ' | ' order by d.id)
   from public.log_budget_decisions(current_setting('spec.run')::uuid, private.today_nl(), 'adjust',
     'live', 'pgtap',
     '[{"budget_resource_name": "customers/1234567890/campaignBudgets/9002", "action": "increase",
        "new_amount_micros": 55000000, "expected_gap": 2, "reason": "first"},
       {"budget_resource_name": "customers/1234567890/campaignBudgets/9002", "action": "decrease",
        "new_amount_micros": 45000000, "expected_gap": -2, "reason": "second"}]') d),
  'pending:  | skipped: the same budget twice in one call: only its first change may be sent',
  'the same budget twice in one call: only the first change may go');

-- A hold is a record, never a change to send.
select matches(pg_temp.decide('9006', 'hold', 500000000, 2), '^skipped: hold: pgtap spec',
  'a hold is logged skipped, whatever amount the caller gives');
select is(
  (select (l.old_amount_micros, l.new_amount_micros)::text from public.channel_orchestration_log l
    where l.id = pg_temp.log_id('9006', 'skipped')),
  '(50000000,50000000)',
  'a hold keeps the database''s record as old and new amount, not the caller''s 500 euro');
select is(pg_temp.claim(pg_temp.log_id('9006', 'skipped')), 'nothing claimed',
  'a logged hold cannot be claimed for sending');

-- The claim is the gate: it re-reads the segment at send time.
select is(pg_temp.decide('9003', 'increase', 55000000, 2), 'pending: ',
  'a raise of an active segment''s budget is logged pending');
reset role;
update public.lead_segments set is_active = false where code = 'dakdekker_zuid_holland';
set local role service_role;
select matches(pg_temp.claim(pg_temp.log_id('9003', 'pending')),
  '^skipped: segment dakdekker_zuid_holland is inactive',
  'a change decided before its segment was deactivated is not sent');

-- The kill switch, at decision time and at send time.
select is(pg_temp.decide('9001', 'increase', 55000000, 2), 'pending: ',
  'a raise logged while changes are enabled is pending');
reset role;
update public.orchestration_settings set changes_enabled = false;
set local role service_role;
select is(pg_temp.claim(pg_temp.log_id('9001', 'pending')),
  'skipped: kill switch is on at send time: not sent',
  'a pending change is not sent once the kill switch is on');
select is(pg_temp.decide('9006', 'increase', 55000000, 2), 'skipped: kill switch is on: not sent',
  'a change decided while the kill switch is on is logged skipped');

-- Nothing above reached Google Ads but the one +20 % change.
select is(
  (select count(*) from public.channel_orchestration_log l
    where l.run_id = current_setting('spec.run')::uuid and l.status in ('sent', 'success')),
  1::bigint,
  'exactly one change of the run was sent');

-- The owner's direct writes pass the same rules (the log's insert trigger).
reset role;
select throws_ok(
  $$ insert into public.channel_orchestration_log
       (day, segment_id, budget_resource_name, action, old_amount_micros, new_amount_micros,
        reason, mode, triggered_by, status)
     values (private.today_nl(), '00000000-0000-4000-8002-000000000033',
             'customers/1234567890/campaignBudgets/9006', 'hold', 50000000, 50000000, 'x', 'live',
             'pgtap', 'pending') $$,
  '23514', 'a hold is never sent: it is logged skipped',
  'not even the table''s owner logs a hold as pending');
select throws_ok(
  $$ insert into public.channel_orchestration_log
       (day, segment_id, budget_resource_name, action, old_amount_micros, new_amount_micros,
        reason, mode, triggered_by, status)
     values (private.today_nl(), '00000000-0000-4000-8002-000000000023',
             'customers/1234567890/campaignBudgets/9006', 'increase', 50000000, 500000000, 'x',
             'live', 'pgtap', 'pending') $$,
  '23514', null,
  'not even the table''s owner logs a tenfold raise as pending');
select throws_ok(
  $$ insert into public.channel_orchestration_log
       (day, segment_id, budget_resource_name, action, old_amount_micros, new_amount_micros,
        reason, mode, triggered_by, status)
     values (private.today_nl(), '00000000-0000-4000-8002-000000000023',
             'customers/1234567890/campaignBudgets/9006', 'increase', 40000000, 45000000, 'x',
             'live', 'pgtap', 'pending') $$,
  '23514', 'a live change starts from the database''s record of the budget (50000000 micros), not 40000000',
  'a live change the owner logs starts from the record, not from a caller''s old amount');

select * from finish();
rollback;
