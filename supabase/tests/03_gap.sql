-- The gap of a segment and day: target - actual leads. calculate_lead_gap reads it
-- (as the caller: RLS decides), update_lead_gap(s) write it (the plan job, service
-- role only). supabase/schemas/12_gap.sql.
begin;
select plan(16);

-- schilder_noord_brabant: a plan (target 7.79) for two days, stats (4 leads) for one.
insert into public.lead_generation_stats
  (segment_id, day, leads_generated, leads_accepted, leads_paid, revenue, ad_spend,
   ad_clicks, ad_impressions, ad_conversions, cpl, active_partners, total_capacity)
values ('00000000-0000-4000-8002-000000000011', '2026-11-20', 4, 4, 4, 74.00, 50.00, 120, 3000, 4,
        12.50, 1, 5.45);
insert into public.lead_segment_plans (segment_id, day, capacity, acceptance_rate, target_leads)
values ('00000000-0000-4000-8002-000000000011', '2026-11-20', 5.45, 0.7, 7.79),
       ('00000000-0000-4000-8002-000000000011', '2026-11-21', 5.45, 0.7, 7.79);
insert into auth.users (id, email) values ('00000000-0000-4000-8009-0000000000b1', 'bare@example.test');

-- Who reads the gap.
set local role authenticated;
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000011"}';
select is(public.calculate_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20'), 3.79,
  'a partner subscribed to the segment reads its gap: 7.79 - 4');
select is(public.calculate_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-21'), null,
  'a day without stats has no gap yet (not measured), not a gap of the whole target');
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000012"}';
select is(public.calculate_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20'), null,
  'a partner of another province gets no gap for the segment');
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8009-0000000000b1"}';
select is(public.calculate_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20'), null,
  'a bare sign-up without a profile gets no gap');
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000001"}';
select is(public.calculate_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20'), 3.79,
  'an admin reads every segment''s gap');
select throws_ok(
  $$ select public.update_lead_gaps('2026-11-20', '2026-11-20') $$,
  '42501', null, 'not even an admin writes gaps: the plan job does');
select throws_ok(
  $$ select public.update_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20') $$,
  '42501', null, 'nor one gap');
set local role anon;
set local request.jwt.claims = '{"role": "anon"}';
select throws_ok(
  $$ select public.calculate_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20') $$,
  '42501', null, 'anon cannot compute a gap');

-- The plan job writes them.
set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';
select is(public.update_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20'), 3.79,
  'update_lead_gap writes the actual and returns the gap');
select is(
  (select (p.actual_leads, p.lead_gap)::text from public.lead_segment_plans p
    where p.segment_id = '00000000-0000-4000-8002-000000000011' and p.day = '2026-11-20'),
  '(4,3.79)', 'the plan now holds the measured actual and its gap');
select is(public.update_lead_gaps('2026-11-20', '2026-11-21'), 0,
  'nothing changed since: update_lead_gaps writes no plan');

reset role;
update public.lead_generation_stats set leads_generated = 6, leads_accepted = 6, leads_paid = 6
 where segment_id = '00000000-0000-4000-8002-000000000011' and day = '2026-11-20';
set local role service_role;
select is(public.update_lead_gaps('2026-11-20', '2026-11-21'), 1,
  'a re-measured day is written again (one plan)');
select is(
  (select p.lead_gap from public.lead_segment_plans p
    where p.segment_id = '00000000-0000-4000-8002-000000000011' and p.day = '2026-11-20'),
  1.79, 'with the new gap 7.79 - 6');

reset role;
delete from public.lead_generation_stats
 where segment_id = '00000000-0000-4000-8002-000000000011' and day = '2026-11-20';
set local role service_role;
select is(public.update_lead_gap('00000000-0000-4000-8002-000000000011', '2026-11-20'), null,
  'stats gone: the gap becomes unknown (null), not the target');
select is(
  (select p.actual_leads from public.lead_segment_plans p
    where p.segment_id = '00000000-0000-4000-8002-000000000011' and p.day = '2026-11-20'),
  null, 'and so does the actual');
select is(public.update_lead_gap('00000000-0000-4000-8002-000000000012', '2026-11-20'), null,
  'a segment without a plan: nothing written, null');

select * from finish();
rollback;
