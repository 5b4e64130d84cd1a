-- Who writes what, per role: anon and partners write nothing; a bare sign-up cannot
-- give itself a profile; an admin changes segments (never the audit log); the service
-- role writes what the jobs compute (plans, counts), never money tables (04_money_tables).
begin;
select plan(16);

insert into auth.users (id, email) values ('00000000-0000-4000-8009-0000000000b1', 'bare@example.test');

set local role anon;
set local request.jwt.claims = '{"role": "anon"}';
select throws_ok(
  $$ insert into public.leads (industry_id, region_code, status, price)
     values ('00000000-0000-4000-8001-000000000001', 'utrecht', 'pending', 1) $$,
  '42501', null, 'anon cannot insert a lead');
select throws_ok(
  $$ update public.lead_segments set max_daily_budget = 1000 where true $$,
  '42501', null, 'anon cannot change a segment');

set local role authenticated;
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8009-0000000000b1"}';
select throws_ok(
  $$ insert into public.profiles (id, role, company_name, email)
     values ('00000000-0000-4000-8009-0000000000b1', 'admin', 'Me', 'bare@example.test') $$,
  '42501', null, 'a bare sign-up cannot give itself a profile');

set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000011"}';
select throws_ok(
  $$ update public.profiles set role = 'admin' where id = '00000000-0000-4000-8000-000000000011' $$,
  '42501', null, 'a partner cannot make itself an admin');
select throws_ok(
  $$ insert into public.lead_segments (code, name, industry_id, region_code, max_daily_budget)
     values ('schilder_groningen', 'Schilder Groningen', '00000000-0000-4000-8001-000000000001',
             'groningen', 50) $$,
  '42501', null, 'a partner cannot create a segment');
update public.lead_segments set max_daily_budget = 1000 where code = 'schilder_noord_brabant';
select throws_ok(
  $$ insert into public.lead_segment_plans (segment_id, day, capacity, acceptance_rate, target_leads)
     values ('00000000-0000-4000-8002-000000000011', '2026-11-30', 1, 0.7, 100) $$,
  '42501', null, 'a partner cannot write a plan');
select throws_ok(
  $$ insert into public.subscriptions (partner_id, industry_id, region_codes, monthly_lead_quota, status, starts_on)
     values ('00000000-0000-4000-8000-000000000011', '00000000-0000-4000-8001-000000000002',
             '{utrecht}', 10, 'active', '2026-01-01') $$,
  '42501', null, 'a partner cannot subscribe itself');
select throws_ok(
  $$ update public.leads set partner_id = '00000000-0000-4000-8000-000000000011' where true $$,
  '42501', null, 'a partner cannot take leads');
reset role;
select is(
  (select max_daily_budget from public.lead_segments where code = 'schilder_noord_brabant'), 150.00,
  'a partner''s update of a segment''s bounds changed nothing');

set local role authenticated;
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000001"}';
select lives_ok(
  $$ update public.lead_segments set max_daily_budget = 120, is_active = false
      where code = 'schilder_noord_brabant' $$,
  'an admin changes a segment''s bounds and active flag');
select lives_ok(
  $$ insert into public.lead_segments (code, name, industry_id, region_code, max_daily_budget)
     values ('schilder_groningen', 'Schilder Groningen', '00000000-0000-4000-8001-000000000001',
             'groningen', 50) $$,
  'an admin creates a segment');
select throws_ok(
  $$ delete from public.lead_segments where code = 'schilder_groningen' $$,
  '42501', null, 'not even an admin deletes a segment (deactivate it)');
select throws_ok(
  $$ insert into public.channel_orchestration_log (day, action, reason, mode, triggered_by, status)
     values ('2026-11-20', 'hold', 'x', 'dry_run', 'admin', 'skipped') $$,
  '42501', null, 'not even an admin writes the orchestration log');
reset role;
select is(
  (select (max_daily_budget, is_active)::text from public.lead_segments where code = 'schilder_noord_brabant'),
  '(120.00,f)', 'the admin''s change is stored');

set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';
select lives_ok(
  $$ insert into public.lead_segment_plans (segment_id, day, capacity, acceptance_rate, target_leads)
     values ('00000000-0000-4000-8002-000000000011', '2026-11-30', 1, 0.7, 1.2) $$,
  'the service role writes plans (the plan job)');
select lives_ok(
  $$ insert into public.lead_generation_stats
       (segment_id, day, leads_generated, leads_accepted, leads_paid, revenue, ad_spend,
        ad_clicks, ad_impressions, ad_conversions, cpl, active_partners, total_capacity)
     values ('00000000-0000-4000-8002-000000000011', '2026-11-30', 1, 1, 1, 18.5, 10, 5, 100, 1, 10, 1, 1) $$,
  'the service role writes lead counts (the aggregate job)');

select * from finish();
rollback;
