-- Seed data: a small, deterministic sample marketplace.
--
-- Loaded by `leadflow db seed` and by `supabase db reset`. Rerunnable: fixed
-- ids and `on conflict do nothing`. Lead attributes come from a hash of the
-- lead's number, never from random(), so every load is identical.
--
-- 3 industries x 3 provinces = 9 segments, 5 partners (one covering two
-- provinces, one subscription paused), an admin, and two weeks of leads
-- (2026-11-09 .. 2026-11-22, Dutch days).

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-000000000001', 'admin@leadflow.example'),
  ('00000000-0000-4000-8000-000000000011', 'schilders-brabant@partners.example'),
  ('00000000-0000-4000-8000-000000000012', 'verfwerk-utrecht@partners.example'),
  ('00000000-0000-4000-8000-000000000013', 'loodgieter-randstad@partners.example'),
  ('00000000-0000-4000-8000-000000000014', 'dakdekkers-zuid@partners.example'),
  ('00000000-0000-4000-8000-000000000015', 'paused-partner@partners.example')
on conflict (id) do nothing;

insert into public.profiles (id, role, company_name, email) values
  ('00000000-0000-4000-8000-000000000001', 'admin', 'Leadflow operations', 'admin@leadflow.example'),
  ('00000000-0000-4000-8000-000000000011', 'partner', 'Schilders Brabant B.V.', 'schilders-brabant@partners.example'),
  ('00000000-0000-4000-8000-000000000012', 'partner', 'Verfwerk Utrecht', 'verfwerk-utrecht@partners.example'),
  ('00000000-0000-4000-8000-000000000013', 'partner', 'Loodgieter Randstad', 'loodgieter-randstad@partners.example'),
  ('00000000-0000-4000-8000-000000000014', 'partner', 'Dakdekkers Zuid', 'dakdekkers-zuid@partners.example'),
  ('00000000-0000-4000-8000-000000000015', 'partner', 'Pauzerend Bedrijf', 'paused-partner@partners.example')
on conflict (id) do nothing;

insert into public.industries (id, slug, name) values
  ('00000000-0000-4000-8001-000000000001', 'schilder', 'Schilder'),
  ('00000000-0000-4000-8001-000000000002', 'loodgieter', 'Loodgieter'),
  ('00000000-0000-4000-8001-000000000003', 'dakdekker', 'Dakdekker')
on conflict do nothing;

insert into public.lead_segments
  (id, code, name, industry_id, region_code, min_daily_budget, max_daily_budget, target_cpl)
select
  ('00000000-0000-4000-8002-0000000000' || i.n || r.n)::uuid,
  i.slug || '_' || r.code,
  i.name || ' ' || reg.name,
  i.id,
  r.code,
  10,
  150,
  25
from (values ('00000000-0000-4000-8001-000000000001'::uuid, 'schilder', 'Schilder', 1),
             ('00000000-0000-4000-8001-000000000002'::uuid, 'loodgieter', 'Loodgieter', 2),
             ('00000000-0000-4000-8001-000000000003'::uuid, 'dakdekker', 'Dakdekker', 3))
       as i (id, slug, name, n)
cross join (values ('noord_brabant', 1), ('utrecht', 2), ('zuid_holland', 3)) as r (code, n)
join public.regions reg on reg.code = r.code
on conflict do nothing;

-- One Google Ads campaign budget per segment.
insert into public.segment_campaign_budgets (segment_id, customer_id, campaign_id, budget_resource_name)
select s.id, '1234567890', (1000 + row_number() over (order by s.code))::text,
       'customers/1234567890/campaignBudgets/' || (9000 + row_number() over (order by s.code))
from public.lead_segments s
where s.id::text like '00000000-0000-4000-8002-%'
on conflict do nothing;

insert into public.subscriptions
  (id, partner_id, industry_id, region_codes, monthly_lead_quota, status, starts_on) values
  ('00000000-0000-4000-8003-000000000001', '00000000-0000-4000-8000-000000000011',
   '00000000-0000-4000-8001-000000000001', '{noord_brabant}', 120, 'active', '2026-01-01'),
  ('00000000-0000-4000-8003-000000000002', '00000000-0000-4000-8000-000000000012',
   '00000000-0000-4000-8001-000000000001', '{utrecht,zuid_holland}', 90, 'active', '2026-03-01'),
  ('00000000-0000-4000-8003-000000000003', '00000000-0000-4000-8000-000000000013',
   '00000000-0000-4000-8001-000000000002', '{utrecht,zuid_holland,noord_brabant}', 150, 'active', '2026-02-01'),
  ('00000000-0000-4000-8003-000000000004', '00000000-0000-4000-8000-000000000014',
   '00000000-0000-4000-8001-000000000003', '{noord_brabant}', 60, 'active', '2026-05-01'),
  ('00000000-0000-4000-8003-000000000005', '00000000-0000-4000-8000-000000000015',
   '00000000-0000-4000-8001-000000000003', '{utrecht}', 40, 'paused', '2026-05-01')
on conflict do nothing;

-- Two weeks of leads. h1..h3 are deterministic pseudo-random numbers in [0, 1).
insert into public.leads
  (id, industry_id, region_code, postal_code, status, price, gclid, utm_source, utm_medium,
   utm_campaign, utm_term, created_at)
select
  ('00000000-0000-4000-8004-' || lpad(g.n::text, 12, '0'))::uuid,
  seg.industry_id,
  seg.region_code,
  lpad((1000 + (g.n * 37) % 8999)::text, 4, '0') || 'AB',
  case when g.h2 < 0.62 then 'accepted' when g.h2 < 0.80 then 'rejected' else 'pending' end,
  case seg.industry_n when 1 then 18.50 when 2 then 22.00 else 27.50 end,
  case when g.h3 < 0.45 then 'seed-gclid-' || g.n end,
  case when g.h3 < 0.45 then 'google' when g.h3 < 0.75 then 'google' when g.h3 < 0.9 then 'microsite' end,
  case when g.h3 < 0.45 then 'cpc' when g.h3 < 0.75 then 'organic' when g.h3 < 0.9 then 'microsite' end,
  case when g.h3 < 0.45 then (1000 + seg.seg_n)::text end,
  case when g.h3 < 0.45 then 'schilder offerte' end,
  -- Spread over the Dutch day 07:00-22:59 of 2026-11-09 + (n mod 14) days.
  (('2026-11-09'::date + (g.n % 14))::timestamp
     + make_interval(hours => 7 + (g.n * 7) % 16, mins => (g.n * 13) % 60))
    at time zone 'Europe/Amsterdam'
from (
  select n,
         ('x' || substr(md5('h1-' || n), 1, 8))::bit(32)::bigint / 4294967296.0 as h1,
         ('x' || substr(md5('h2-' || n), 1, 8))::bit(32)::bigint / 4294967296.0 as h2,
         ('x' || substr(md5('h3-' || n), 1, 8))::bit(32)::bigint / 4294967296.0 as h3
  from generate_series(1, 1400) as n
) g
join lateral (
  select s.industry_id, s.region_code,
         dense_rank() over (order by s.code) as seg_n,
         case when s.code like 'schilder%' then 1 when s.code like 'loodgieter%' then 2 else 3 end as industry_n
  from public.lead_segments s
  where s.id::text like '00000000-0000-4000-8002-%'
  order by s.code
  offset floor(g.h1 * 9)::int limit 1
) seg on true
on conflict do nothing;
