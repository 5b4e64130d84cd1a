-- Reports from Google Ads and the database's record of each budget: amounts are whole
-- cents; a report that disagrees with the record becomes an external change (never the
-- new base), and only an admin signed in as themselves accepts one.
-- supabase/schemas/15_budget_observations.sql.
begin;
select plan(13);

set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';

select throws_ok(
  $$ select public.record_budget_observations(
       '[{"budget_resource_name": "customers/1234567890/campaignBudgets/9007", "amount_micros": 50005000}]') $$,
  '22023', null, 'a reported amount that is not whole cents is refused');
select throws_ok(
  $$ select public.record_budget_observations(
       '[{"budget_resource_name": "customers/1234567890/campaignBudgets/9007", "amount_micros": -10000}]') $$,
  '22023', null, 'a negative reported amount is refused');
select throws_ok(
  $$ select public.record_budget_observations('{"budget_resource_name": "x"}') $$,
  '22023', null, 'a report that is not an array is refused');

select is(public.record_budget_observations(
  '[{"budget_resource_name": "customers/1234567890/campaignBudgets/9007", "amount_micros": 50000000}]'),
  1, 'the first report of a mapped budget is kept');
select is(private.budget_record('customers/1234567890/campaignBudgets/9007'), 50000000::bigint,
  'and becomes the database''s record of it');

-- A report that disagrees: 120 euro (+140 %) is not believed.
select is(public.record_budget_observations(
  '[{"budget_resource_name": "customers/1234567890/campaignBudgets/9007", "amount_micros": 120000000}]'),
  1, 'a later report of 120 euro is kept as an observation');
select is(private.budget_record('customers/1234567890/campaignBudgets/9007'), 50000000::bigint,
  'but the record stays 50 euro');
select is(private.budget_day_base('customers/1234567890/campaignBudgets/9007', private.today_nl()),
  50000000::bigint, 'and so does the base of today''s daily limit');
reset role;
select is(
  (select (e.record_micros, e.observed_micros, e.accepted_at is null)::text
     from private.budget_external_changes e
    where e.budget_resource_name = 'customers/1234567890/campaignBudgets/9007'),
  '(50000000,120000000,t)', 'the disagreement is stored as an open external change');

-- Accepting it as the new base is an admin's decision, not the jobs' key's.
set local role service_role;
select throws_ok(
  $$ select public.accept_budget_amount('customers/1234567890/campaignBudgets/9007', 120000000) $$,
  'PT403', null, 'the service role cannot accept an external change');
set local role authenticated;
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000011"}';
select throws_ok(
  $$ select public.accept_budget_amount('customers/1234567890/campaignBudgets/9007', 120000000) $$,
  'PT403', null, 'a partner cannot accept an external change');
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000001"}';
select lives_ok(
  $$ select public.accept_budget_amount('customers/1234567890/campaignBudgets/9007', 120000000) $$,
  'an admin accepts it');
reset role;
select is(private.budget_record('customers/1234567890/campaignBudgets/9007'), 120000000::bigint,
  'and the accepted amount becomes the record');

select * from finish();
rollback;
