-- =============================================================================
-- Rollback: the budgets changed on a day and the amounts they started it at.
-- =============================================================================

create or replace function public.rollback_candidates(p_day date)
returns table (segment_id uuid, channel text, customer_id text, campaign_id text,
               budget_resource_name text, restore_amount_micros bigint, changed_amount_micros bigint,
               log_id bigint)
language sql stable
set search_path = ''
as $$
  select distinct on (l.budget_resource_name)
         l.segment_id, l.channel, l.customer_id, l.campaign_id, l.budget_resource_name,
         private.budget_day_reference(l.budget_resource_name, p_day), l.new_amount_micros, l.id
  from public.channel_orchestration_log l
  where l.sent_on = p_day and l.kind = 'adjust' and l.mode = 'live' and l.status = 'success'
    and l.action <> 'hold'
    and not exists (
      select 1 from public.channel_orchestration_log r
      where r.day = p_day and r.kind = 'rollback' and r.mode = 'live' and r.status = 'success'
        and r.budget_resource_name = l.budget_resource_name
    )
  order by l.budget_resource_name, l.id
$$;
comment on function public.rollback_candidates(date) is
  'Budgets changed live on a day (any channel) and not yet rolled back, with the amount they had when the day '
  'began.';

revoke execute on function public.rollback_candidates(date) from public, anon, authenticated;
grant execute on function public.rollback_candidates(date) to service_role;
