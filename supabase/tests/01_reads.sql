-- Who reads what, per role, as PostgREST runs a request (role and JWT claims set
-- locally): anon nothing; a bare sign-up (a token, no profile) nothing; a partner
-- reads active segments, and plans and counts only of the segments it actively
-- subscribes to, never money; an admin reads every segment; the service role reads
-- what the jobs need. docs/MONEY_SAFETY.md; supabase/schemas/02_authorization.sql.
begin;
select plan(33);

-- Fixtures: one inactive segment, a plan and counts for two segments, a bare sign-up,
-- a job run and a lead bought by the Brabant partner.
update public.lead_segments set is_active = false where code = 'dakdekker_zuid_holland';
insert into public.lead_segment_plans (segment_id, day, capacity, acceptance_rate, target_leads)
values ('00000000-0000-4000-8002-000000000011', '2026-11-20', 5.45, 0.7, 7.79),
       ('00000000-0000-4000-8002-000000000012', '2026-11-20', 4.00, 0.7, 5.71);
insert into public.lead_generation_stats
  (segment_id, day, leads_generated, leads_accepted, leads_paid, revenue, ad_spend,
   ad_clicks, ad_impressions, ad_conversions, cpl, active_partners, total_capacity)
values ('00000000-0000-4000-8002-000000000011', '2026-11-20', 4, 4, 4, 74.00, 50.00, 120, 3000, 4, 12.50, 1, 5.45),
       ('00000000-0000-4000-8002-000000000012', '2026-11-20', 3, 3, 3, 55.50, 40.00, 90, 2000, 3, 13.33, 1, 4.00);
insert into auth.users (id, email) values ('00000000-0000-4000-8009-0000000000b1', 'bare@example.test');
insert into public.job_runs (job, day, triggered_by) values ('aggregate', '2026-11-20', 'pgtap');
update public.leads set partner_id = '00000000-0000-4000-8000-000000000011'
 where id = '00000000-0000-4000-8004-000000000001';

-- -----------------------------------------------------------------------------
-- anon: no table at all
-- -----------------------------------------------------------------------------
set local role anon;
set local request.jwt.claims = '{"role": "anon"}';
select is(
  (select array_agg(c.relname::text order by c.relname)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')
      and has_table_privilege('anon', c.oid, 'select, insert, update, delete, truncate')),
  null, 'anon holds no privilege on any table or view in public');
select throws_ok($$ select count(*) from public.lead_segments $$, '42501', null,
  'anon cannot read segments');
select throws_ok($$ select count(*) from public.leads $$, '42501', null, 'anon cannot read leads');
select throws_ok($$ select count(*) from public.industries $$, '42501', null,
  'anon cannot read industries');

-- -----------------------------------------------------------------------------
-- A bare sign-up: a valid token and no profile (sign-up is open)
-- -----------------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8009-0000000000b1"}';
select is((select count(*) from public.lead_segments), 0::bigint, 'a bare sign-up reads no segment');
select is((select count(*) from public.regions), 0::bigint, 'a bare sign-up reads no province');
select is((select count(*) from public.lead_segment_plans), 0::bigint, 'a bare sign-up reads no plan');
select is((select count(*) from public.lead_generation_stats), 0::bigint,
  'a bare sign-up reads no lead counts');
select is((select count(*) from public.public_holidays), 0::bigint, 'a bare sign-up reads no holiday');
select is((select count(*) from public.industries), 0::bigint, 'a bare sign-up reads no industry');

-- -----------------------------------------------------------------------------
-- A partner with an active subscription (schilder, noord_brabant)
-- -----------------------------------------------------------------------------
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000011"}';
select is((select count(*) from public.lead_segments), 8::bigint,
  'a partner reads every active segment (8 of 9), subscribed or not');
select is(
  (select array_agg(s.code::text order by s.code) from public.lead_segment_plans p
     join public.lead_segments s on s.id = p.segment_id),
  array['schilder_noord_brabant'], 'a partner reads plans only of the segment it subscribes to');
select is(
  (select array_agg(st.segment_id) from public.lead_generation_stats st),
  array['00000000-0000-4000-8002-000000000011'::uuid],
  'a partner reads lead counts only of the segment it subscribes to');
select throws_ok($$ select min_daily_budget from public.lead_segments $$, '42501', null,
  'a partner cannot select the budget bounds');
select throws_ok($$ select sum(ad_spend) from public.lead_generation_stats $$, '42501', null,
  'a partner cannot select ad spend, not even of its own segment');
select throws_ok($$ select sum(spend) from public.lead_channel_stats $$, '42501', null,
  'a partner cannot select spend per channel, not even of its own segment');
select throws_ok($$ select count(*) from public.channel_attribution_rules $$, '42501', null,
  'a partner cannot read the attribution rules');
select throws_ok($$ select count(*) from public.channel_orchestration_log $$, '42501', null,
  'a partner cannot read the orchestration log');
select throws_ok($$ select count(*) from public.job_runs $$, '42501', null,
  'a partner cannot read job runs');
select throws_ok($$ select count(*) from public.segment_campaign_budgets $$, '42501', null,
  'a partner cannot read budget mappings');
select is((select array_agg(p.id) from public.profiles p),
  array['00000000-0000-4000-8000-000000000011'::uuid], 'a partner reads only its own profile');
select is((select count(*) from public.leads), 1::bigint, 'a partner reads only the leads it bought');

-- -----------------------------------------------------------------------------
-- A partner without an active subscription (paused)
-- -----------------------------------------------------------------------------
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000015"}';
select is((select count(*) from public.lead_segments), 8::bigint,
  'a partner with a paused subscription still reads the active segments');
select is((select count(*) from public.lead_segment_plans), 0::bigint,
  'but no plan');
select is((select count(*) from public.lead_generation_stats), 0::bigint, 'and no lead counts');

-- -----------------------------------------------------------------------------
-- An admin
-- -----------------------------------------------------------------------------
set local request.jwt.claims = '{"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000001"}';
select is((select count(*) from public.lead_segments), 9::bigint,
  'an admin reads every segment, the inactive one too');
select is((select count(*) from public.lead_segment_plans), 2::bigint, 'an admin reads every plan');
select throws_ok($$ select count(*) from public.job_runs $$, '42501', null,
  'not even an admin selects job runs through the API (read functions only)');
select throws_ok($$ select max_daily_budget from public.lead_segments $$, '42501', null,
  'an admin reads bounds through the read functions, not the table');

-- -----------------------------------------------------------------------------
-- The service role
-- -----------------------------------------------------------------------------
set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';
select is((select count(*) from public.lead_segments where max_daily_budget = 150), 9::bigint,
  'the service role reads every segment with its bounds');
select is((select count(*) from public.segment_campaign_budgets), 9::bigint,
  'the service role reads the budget mappings');
select is((select count(*) from public.job_runs), 1::bigint, 'the service role reads job runs');
select is((select sum(ad_spend) from public.lead_generation_stats), 90.00,
  'the service role reads spend');

select * from finish();
rollback;
