-- =============================================================================
-- The write path of budget decisions: log, claim (the gate: kill switch,
-- fencing, daily limit, account cap), complete, reconcile.
-- =============================================================================

create or replace function public.log_budget_decisions(
  p_run_id uuid,
  p_day date,
  p_kind text,
  p_mode text,
  p_triggered_by text,
  p_decisions jsonb
)
returns table (id bigint, budget_resource_name text, status text, error text)
language plpgsql
set search_path = ''
as $$
declare
  today date := private.today_nl();
begin
  if jsonb_typeof(p_decisions) is distinct from 'array' then
    raise exception 'log_budget_decisions: p_decisions must be an array' using errcode = '22023';
  end if;
  if p_mode = 'live' and p_day is distinct from today then
    raise exception 'live changes are only for today (%), not %; other days can be dry-run only', today, p_day
      using errcode = '22023';
  end if;
  perform private.check_run_holds_lease(p_run_id);
  return query
  with d as (
    select r.*, row_number() over () as ord
    from jsonb_to_recordset(p_decisions) as r (
      segment_id uuid, customer_id text, campaign_id text, budget_resource_name text,
      action text, old_amount_micros bigint, new_amount_micros bigint, expected_gap numeric,
      inputs jsonb, reason text, skip_reason text)
  ),
  settings as (
    select o.changes_enabled, o.max_daily_change, o.account_daily_cap
    from public.orchestration_settings o
  ),
  judged as (
    select d.*, x.status, x.error
    from d
    cross join settings
    cross join lateral (
      select (select format('log #%s', prior.id)
                from public.channel_orchestration_log prior
               where prior.budget_resource_name = d.budget_resource_name and prior.day = p_day
                 and prior.kind = p_kind and prior.mode = 'live' and prior.action <> 'hold'
                 and prior.status in ('pending', 'sent', 'unknown', 'success')
               order by prior.id limit 1) as already,
             (select format('log #%s', doubt.id)
                from public.channel_orchestration_log doubt
               where doubt.budget_resource_name = d.budget_resource_name and doubt.mode = 'live'
                 and doubt.status in ('sent', 'unknown')
               limit 1) as in_doubt,
             private.budget_day_reference(d.budget_resource_name, today) as reference
    ) prior
    cross join lateral (
      select case
               when d.action = 'hold' then 'skipped'
               when d.skip_reason is not null then 'skipped'
               when p_mode = 'dry_run' then 'skipped'
               when p_mode = 'live' and prior.already is not null then 'skipped'
               when p_mode = 'live' and prior.in_doubt is not null then 'skipped'
               when p_mode = 'live' and abs(d.new_amount_micros - prior.reference)
                    > floor(prior.reference * settings.max_daily_change) then 'skipped'
               when not settings.changes_enabled then 'skipped'
               else 'pending'
             end as status,
             case
               when d.action = 'hold' then 'hold: ' || d.reason
               when d.skip_reason is not null then d.skip_reason
               when p_mode = 'dry_run' then 'dry run: not sent to Google Ads'
               when p_mode = 'live' and prior.already is not null
                 then format('already changed today (%s); not applied twice', prior.already)
               when p_mode = 'live' and prior.in_doubt is not null
                 then format('the outcome of %s is not known yet; nothing more is sent for this budget '
                             'until it is reconciled with Google Ads', prior.in_doubt)
               when p_mode = 'live' and abs(d.new_amount_micros - prior.reference)
                    > floor(prior.reference * settings.max_daily_change)
                 then format('more than %s %% from today''s starting budget of %s micros: not sent',
                             settings.max_daily_change * 100, prior.reference)
               when not settings.changes_enabled then 'kill switch is on: not sent'
             end as error
    ) x
  ),
  day_total as (
    -- The account daily cap: the day's budgets as they would stand with every change of this
    -- call that may be sent, raises not yet counted: budgets this call sends nothing for at
    -- their standing amount, its decreases at their new and its raises at their old amount.
    select (select coalesce(sum(sa.amount_micros), 0)
              from private.budget_standing_amounts(today) sa
             where not exists (select 1 from judged j
                                where j.status = 'pending'
                                  and j.budget_resource_name = sa.budget_resource_name))
           + (select coalesce(sum(case when j.action = 'increase' then j.old_amount_micros
                                       else j.new_amount_micros end), 0)
                from judged j where j.status = 'pending') as base,
           round(settings.account_daily_cap * 1000000)::bigint as cap
    from settings
    where settings.account_daily_cap is not null
  ),
  capped as (
    -- Raises count in the order given; one that would take the sum over the cap is skipped
    -- (and still counted: every later raise is skipped too).
    select j.*,
           case when j.status = 'pending' and j.action = 'increase'
                then dt.base + sum(j.new_amount_micros - j.old_amount_micros)
                       filter (where j.status = 'pending' and j.action = 'increase')
                       over (order by j.ord rows between unbounded preceding and current row)
           end as total,
           dt.cap
    from judged j
    left join day_total dt on true
  )
  insert into public.channel_orchestration_log as l (
    run_id, day, segment_id, kind, customer_id, campaign_id, budget_resource_name, action,
    old_amount_micros, new_amount_micros, change_pct, expected_gap, inputs, reason, mode, status, error,
    triggered_by, completed_at)
  select p_run_id, p_day, c.segment_id, p_kind, c.customer_id, c.campaign_id, c.budget_resource_name,
         c.action, c.old_amount_micros, c.new_amount_micros,
         round((c.new_amount_micros - c.old_amount_micros) * 100.0 / nullif(c.old_amount_micros, 0), 2),
         c.expected_gap, c.inputs, c.reason, p_mode,
         y.status, y.error, p_triggered_by,
         case when y.status = 'pending' then null else now() end
  from capped c
  cross join lateral (
    select case when c.total > c.cap then 'skipped' else c.status end as status,
           case when c.total > c.cap
                then format('the day''s budgets would sum to %s micros, over the account daily cap of '
                            '%s micros: not sent', c.total, c.cap)
                else c.error end as error
  ) y
  order by c.ord
  returning l.id, l.budget_resource_name, l.status, l.error;
end
$$;
comment on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) is
  'Write the decisions of a run to the audit log before anything is sent. Changes to send come back '
  'pending; holds, dry runs, kill-switch, in-doubt, beyond-limit, over-the-account-cap and already-applied '
  'changes come back skipped with why. Live only for today; only by a run that holds its lease.';

create or replace function public.claim_budget_decisions(p_run_id uuid, p_ids bigint[])
returns table (id bigint, budget_resource_name text, new_amount_micros bigint, status text, error text)
language plpgsql
set search_path = ''
as $$
declare
  today date := private.today_nl();
  enabled boolean;
  max_change numeric;
  r record;
  reference bigint;
  doubt bigint;
  why text;
  cap bigint;
  total bigint;
  standing bigint;
begin
  perform private.check_run_holds_lease(p_run_id);
  select k.changes_enabled, k.max_daily_change into enabled, max_change
    from private.settings_for_sending() k;
  -- The account daily cap (its row is locked for share above): the sum of the day's
  -- budgets as they stand, kept while raises are claimed. One claim at a time counts it.
  cap := (select round(o.account_daily_cap * 1000000)::bigint from public.orchestration_settings o);
  if cap is not null then
    perform pg_advisory_xact_lock(hashtextextended('account_daily_cap', 0));
    total := (select coalesce(sum(sa.amount_micros), 0) from private.budget_standing_amounts(today) sa);
  end if;
  for r in
    select l.* from public.channel_orchestration_log l
     where l.id = any (p_ids) and l.run_id = p_run_id and l.status = 'pending'
     order by l.id
  loop
    why := null;
    if not coalesce(enabled, false) then
      why := 'kill switch is on at send time: not sent';
    elsif r.mode = 'live' then
      -- One claim per budget at a time, across runs and jobs.
      perform pg_advisory_xact_lock(hashtextextended(r.budget_resource_name, 0));
      reference := coalesce(private.budget_day_reference(r.budget_resource_name, today),
                            r.old_amount_micros);
      doubt := (select l.id from public.channel_orchestration_log l
                 where l.budget_resource_name = r.budget_resource_name and l.mode = 'live'
                   and l.status in ('sent', 'unknown')
                 limit 1);
      if r.day <> today then
        why := format('live changes are only sent on their own day (%s); today is %s', r.day, today);
      elsif doubt is not null then
        why := format('the outcome of log #%s is not known yet; not sent until it is reconciled', doubt);
      elsif abs(r.new_amount_micros - reference) > floor(reference * max_change) then
        why := format('more than %s %% from today''s starting budget of %s micros: not sent',
                      max_change * 100, reference);
      elsif cap is not null then
        -- A raise counts from what the budget stands at; a decrease is only counted once
        -- Google Ads confirmed it (a later claim), so a refused one cannot make room.
        standing := coalesce(private.budget_standing_amount(r.budget_resource_name, today),
                             r.old_amount_micros);
        if r.new_amount_micros > standing then
          if total + r.new_amount_micros - standing > cap then
            why := format('the day''s budgets would sum to %s micros, over the account daily cap of '
                          '%s micros: not sent', total + r.new_amount_micros - standing, cap);
          else
            total := total + r.new_amount_micros - standing;
          end if;
        end if;
      end if;
    end if;
    update public.channel_orchestration_log l
       set status = case when why is null then 'sent' else 'skipped' end,
           error = why,
           sent_on = case when why is null then today end,
           claimed_at = case when why is null then now() end,
           completed_at = case when why is null then null else now() end
     where l.id = r.id;
    id := r.id;
    budget_resource_name := r.budget_resource_name;
    new_amount_micros := r.new_amount_micros;
    status := case when why is null then 'sent' else 'skipped' end;
    error := why;
    return next;
  end loop;
end
$$;
comment on function public.claim_budget_decisions(uuid, bigint[]) is
  'Claim a run''s pending rows for sending, in one transaction that re-reads the kill switch, the '
  'daily limit of today''s starting budget, the account daily cap and the budgets in doubt: claimed rows come back sent '
  '(send them now, within private.send_window()), the others skipped with why. Refused (PT409) for '
  'a run without its lease.';

create or replace function public.complete_budget_decisions(p_run_id uuid, p_results jsonb) returns integer
language plpgsql
set search_path = ''
as $$
declare
  completed integer;
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception 'complete_budget_decisions: p_results must be an array' using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_results) as r (id bigint, status text, error text)
    where r.status is null or r.status not in ('success', 'failed', 'unknown')
       or (r.status in ('failed', 'unknown') and r.error is null)
  ) then
    raise exception 'complete_budget_decisions: status must be success, failed or unknown (with error)'
      using errcode = '22023';
  end if;
  perform private.check_run_holds_lease(p_run_id);
  update public.channel_orchestration_log l
     set status = r.status, error = r.error,
         completed_at = case when r.status = 'unknown' then null else now() end
    from jsonb_to_recordset(p_results) as r (id bigint, status text, error text)
   where l.id = r.id and l.run_id = p_run_id and l.status = 'sent';
  get diagnostics completed = row_count;
  return completed;
end
$$;
comment on function public.complete_budget_decisions(uuid, jsonb) is
  'Record Google Ads'' answer [{id, status, error}] for rows the run sent: success, failed (refused) '
  'or unknown (no clear answer; the budget stays blocked until reconciled). Only by the lease holder.';

create or replace function public.open_budget_decisions()
returns table (id bigint, budget_resource_name text, kind text, mode text, status text,
               old_amount_micros bigint, new_amount_micros bigint, reconcilable boolean)
language sql stable
set search_path = ''
as $$
  -- Rows left open by runs that ended or lost their lease: pending (never sent) or in
  -- doubt. A sent row of a run that was taken over (and so may still be alive) becomes
  -- reconcilable only once its send window has passed.
  select l.id, l.budget_resource_name, l.kind, l.mode, l.status, l.old_amount_micros,
         l.new_amount_micros,
         l.status in ('pending', 'unknown')
           or (r.status <> 'running' and r.taken_over_by is null)
           or l.claimed_at < now() - private.send_window() - interval '1 minute'
  from public.channel_orchestration_log l
  join public.job_runs r on r.id = l.run_id
  where l.status in ('pending', 'sent', 'unknown')
    and (r.status <> 'running' or r.heartbeat_at < now() - private.job_lease())
  order by l.id
$$;
comment on function public.open_budget_decisions() is
  'Audit rows left pending or in doubt by runs that ended or lost their lease, and whether each can '
  'be reconciled now.';

create or replace function public.reconcile_budget_decisions(p_run_id uuid, p_observed jsonb) returns integer
language plpgsql
set search_path = ''
as $$
declare
  done integer;
begin
  -- p_observed: [{budget_resource_name, amount_micros}] as Google Ads holds them now.
  if jsonb_typeof(p_observed) is distinct from 'array' then
    raise exception 'reconcile_budget_decisions: p_observed must be an array' using errcode = '22023';
  end if;
  perform private.check_run_holds_lease(p_run_id);
  with open as (
    select o.* from public.open_budget_decisions() o where o.reconcilable
  ),
  seen as (
    select r.budget_resource_name, r.amount_micros
    from jsonb_to_recordset(p_observed) as r (budget_resource_name text, amount_micros bigint)
  ),
  outcome as (
    select o.id,
           case
             when o.status = 'pending' then 'skipped'
             when o.mode <> 'live' then 'failed'
             when s.amount_micros = o.new_amount_micros then 'success'
             else 'failed'
           end as status,
           case
             when o.status = 'pending' then 'never sent: the run stopped before sending it'
             when o.mode <> 'live' then 'reconciled: the run stopped before Google Ads answered'
             when s.amount_micros = o.new_amount_micros then 'reconciled: found applied'
             when s.amount_micros = o.old_amount_micros
               then 'reconciled: not applied; Google Ads holds the old amount'
             when s.amount_micros is null then 'reconciled: the budget was not found in Google Ads'
             else format('reconciled: not applied; Google Ads holds %s micros', s.amount_micros)
           end as error
    from open o
    left join seen s on s.budget_resource_name = o.budget_resource_name
    where o.status = 'pending' or o.mode <> 'live' or s.budget_resource_name is not null
  )
  update public.channel_orchestration_log l
     set status = outcome.status, error = outcome.error, completed_at = now()
    from outcome
   where l.id = outcome.id;
  get diagnostics done = row_count;
  return done;
end
$$;
comment on function public.reconcile_budget_decisions(uuid, jsonb) is
  'Settle rows that ended runs left open, from the budgets Google Ads holds now: never-sent rows '
  'become skipped, in-doubt rows success (found applied) or failed (not applied). Only by a lease holder.';

revoke execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) from public, anon, authenticated;
revoke execute on function public.claim_budget_decisions(uuid, bigint[]) from public, anon, authenticated;
revoke execute on function public.complete_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function public.open_budget_decisions() from public, anon, authenticated;
revoke execute on function public.reconcile_budget_decisions(uuid, jsonb) from public, anon, authenticated;
grant execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) to service_role;
grant execute on function public.claim_budget_decisions(uuid, bigint[]) to service_role;
grant execute on function public.complete_budget_decisions(uuid, jsonb) to service_role;
grant execute on function public.open_budget_decisions() to service_role;
grant execute on function public.reconcile_budget_decisions(uuid, jsonb) to service_role;
