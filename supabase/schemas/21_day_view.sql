-- =============================================================================
-- lead_segment_days: the day's picture for readers (plan, stats, decisions),
-- and lead_segment_channel_days: the same per paid channel.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- lead_segment_days: the day's picture for readers
-- -----------------------------------------------------------------------------
-- One row per plan: the plan (written by the plan job alone), the day's stats, and
-- the latest adjustment decided for each of the segment's budgets that day (from the
-- log, the one record of what the orchestrator decided). Nothing is copied between
-- the three tables, so each has one writer.
create view public.lead_segment_days with (security_invoker = true) as
select p.segment_id, p.day, p.capacity, p.acceptance_rate, p.target_leads, p.actual_leads, p.lead_gap,
       st.leads_accepted, st.leads_rejected, st.leads_pending, st.leads_paid,
       st.leads_generated - st.leads_paid as leads_organic,
       st.revenue, st.ad_spend, st.cpl,
       d.budgets, d.planned_budget_micros, d.expected_gap, d.budget_action, d.budget_status,
       d.decided_at
from public.lead_segment_plans p
left join public.lead_generation_stats st on st.segment_id = p.segment_id and st.day = p.day
cross join lateral (
  select count(*)::integer as budgets,
         sum(x.new_amount_micros)::bigint as planned_budget_micros,
         max(x.expected_gap) as expected_gap,
         case when count(distinct x.action) > 1 then 'mixed' else min(x.action) end as budget_action,
         (array_agg(x.status order by array_position(
            array['failed', 'unknown', 'sent', 'pending', 'success', 'skipped'], x.status)))[1]
           as budget_status,
         max(x.created_at) as decided_at
  from (select distinct on (l.budget_resource_name) l.action, l.status, l.new_amount_micros,
               l.expected_gap, l.created_at
        from public.channel_orchestration_log l
        where l.segment_id = p.segment_id and l.day = p.day and l.kind = 'adjust'
        order by l.budget_resource_name, l.id desc) x
) d;

comment on view public.lead_segment_days is
  'One row per segment per planned day: the plan (target, actual, gap), the day''s stats, and the '
  'latest adjustment of each of the segment''s budgets that day. Money: service role only.';
comment on column public.lead_segment_days.leads_organic is 'Leads not from a paid channel (SEO, microsite, other).';
comment on column public.lead_segment_days.budgets is 'Budgets of the segment decided for the day (0: none yet).';
comment on column public.lead_segment_days.planned_budget_micros is
  'Sum of the latest decided daily amount of each budget (micros): what the orchestrator set or would set.';
comment on column public.lead_segment_days.expected_gap is 'The largest expected_gap of those decisions.';
comment on column public.lead_segment_days.budget_action is
  'increase, decrease or hold (the log''s words); mixed when the segment''s budgets were moved differently.';
comment on column public.lead_segment_days.budget_status is
  'The log''s status of those decisions, the least settled first: failed, unknown, sent, pending, success, skipped.';

revoke all on table public.lead_segment_days from public, anon, authenticated;
grant select on table public.lead_segment_days to service_role;

-- -----------------------------------------------------------------------------
-- lead_segment_channel_days: the same day per paid channel (rows, not columns)
-- -----------------------------------------------------------------------------
-- Per plan and paid channel the segment steers: the planned budget (the latest decided
-- amount of each of its budgets on the channel), the paid leads the decision expected from
-- the channel (its share of the segment's paid target, from the log's inputs), and what
-- the channel delivered (leads, spend).
create view public.lead_segment_channel_days with (security_invoker = true) as
select p.segment_id, p.day, c.channel,
       cs.leads_generated as leads, cs.leads_accepted, cs.spend,
       d.budgets, d.planned_budget_micros, d.expected_paid_leads, d.budget_action, d.decided_at
from public.lead_segment_plans p
join (select distinct cb.segment_id, cb.channel from public.segment_campaign_budgets cb) c
  on c.segment_id = p.segment_id
left join public.lead_channel_stats cs
  on cs.segment_id = p.segment_id and cs.day = p.day and cs.channel = c.channel
cross join lateral (
  select count(*)::integer as budgets,
         sum(x.new_amount_micros)::bigint as planned_budget_micros,
         round(sum((x.inputs ->> 'channel_target_paid_leads')::numeric), 2) as expected_paid_leads,
         case when count(distinct x.action) > 1 then 'mixed' else min(x.action) end as budget_action,
         max(x.created_at) as decided_at
  from (select distinct on (l.budget_resource_name) l.action, l.new_amount_micros, l.inputs, l.created_at
        from public.channel_orchestration_log l
        where l.segment_id = p.segment_id and l.day = p.day and l.kind = 'adjust'
          and l.channel = c.channel
        order by l.budget_resource_name, l.id desc) x
) d;

comment on view public.lead_segment_channel_days is
  'One row per segment, planned day and paid channel it steers: the planned budget on the channel, '
  'the paid leads expected from it (its share of the segment''s paid target), and its leads and spend. '
  'Money: service role only.';
comment on column public.lead_segment_channel_days.planned_budget_micros is
  'Sum of the latest decided daily amount of each of the segment''s budgets on the channel (micros).';
comment on column public.lead_segment_channel_days.expected_paid_leads is
  'Paid leads the decisions planned on this channel for the day: its share of the segment''s paid target '
  'by marginal cost (the whole paid target on a single-channel segment).';

revoke all on table public.lead_segment_channel_days from public, anon, authenticated;
grant select on table public.lead_segment_channel_days to service_role;
