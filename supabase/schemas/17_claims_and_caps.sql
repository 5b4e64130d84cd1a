-- =============================================================================
-- The write path of budget decisions, and its gate.
--
--   log_budget_decisions       writes a run's decisions before anything is sent; the
--                              database sets the old amount, segment and action itself
--   claim_budget_decisions     the gate: re-checks everything at the moment of sending
--   complete_budget_decisions  Google Ads' answer; a success becomes the budget's record
--   reconcile_budget_decisions settles what ended runs left open
--
-- Whether a change may go is private.change_refusal (16_change_rules.sql). Each writer is security definer in private,
-- owned by leadflow_money; public holds invoker wrappers the service role may execute.
-- Whatever a caller passes is a request: amounts are checked, everything else is read.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Log
-- -----------------------------------------------------------------------------
create or replace function private.log_budget_decisions(
  p_run_id uuid,
  p_day date,
  p_kind text,
  p_mode text,
  p_triggered_by text,
  p_decisions jsonb
)
returns table (id bigint, budget_resource_name text, status text, error text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  today date := private.today_nl();
  d record;
  m record;
  old_amount bigint;
  new_amount bigint;
  act text;
  why text;
  cap bigint;
  total bigint;
  standing bigint;
  chan_caps jsonb := '{}'::jsonb;
  chan_totals jsonb := '{}'::jsonb;
  ch_cap bigint;
  ch_total bigint;
begin
  if p_day is null or p_kind is null or p_kind not in ('adjust', 'rollback')
     or p_mode is null or p_mode not in ('live', 'dry_run', 'validate_only')
     or coalesce(btrim(p_triggered_by), '') = '' then
    raise exception 'log_budget_decisions needs a day, a kind (adjust, rollback), a mode (live, '
      'dry_run, validate_only) and who triggered it' using errcode = '22023';
  end if;
  if jsonb_typeof(p_decisions) is distinct from 'array' then
    raise exception 'log_budget_decisions: p_decisions must be an array' using errcode = '22023';
  end if;
  if p_mode = 'live' and p_day <> today then
    raise exception 'live changes are only for today (%), not %; other days can be dry-run only', today, p_day
      using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_array_elements(p_decisions) e
    where jsonb_typeof(e) <> 'object'
       or (e ? 'new_amount_micros' and jsonb_typeof(e -> 'new_amount_micros') not in ('number', 'null'))
       or (jsonb_typeof(e -> 'new_amount_micros') = 'number'
           and ((e ->> 'new_amount_micros')::numeric < 0
                or (e ->> 'new_amount_micros')::numeric % 10000 <> 0
                or (e ->> 'new_amount_micros')::numeric > 9000000000000000))
  ) then
    raise exception 'every decision is an object whose new_amount_micros is whole cents (micros, a '
      'non-negative multiple of 10000)' using errcode = '22023';
  end if;
  perform private.lock_money();
  perform private.check_run_holds_lease(p_run_id);
  if p_mode <> 'dry_run' then
    cap := (select round(o.account_daily_cap * 1000000)::bigint from public.orchestration_settings o);
    chan_caps := private.channel_caps();
  end if;
  if cap is not null then
    total := (select coalesce(sum(sa.amount_micros), 0) from private.budget_standing_amounts() sa);
  end if;
  if chan_caps <> '{}'::jsonb then
    chan_totals := private.channel_standing_totals();
  end if;
  for d in
    select e.value ->> 'budget_resource_name' as budget_resource_name,
           e.value ->> 'action' as action,
           (e.value ->> 'old_amount_micros')::numeric as old_amount_micros,
           (e.value ->> 'new_amount_micros')::numeric as new_amount_micros,
           (e.value ->> 'expected_gap')::numeric as expected_gap,
           e.value -> 'inputs' as inputs,
           e.value ->> 'reason' as reason,
           e.value ->> 'skip_reason' as skip_reason,
           -- One change per budget and call: a budget's later rows are records only.
           row_number() over (partition by e.value ->> 'budget_resource_name' order by e.ord) > 1
             as repeated
    from jsonb_array_elements(p_decisions) with ordinality as e (value, ord)
    order by e.ord
  loop
    m := null;
    select cb.segment_id, cb.customer_id, cb.campaign_id, cb.channel into m
      from public.segment_campaign_budgets cb where cb.budget_resource_name = d.budget_resource_name;
    -- The old amount is the database's: its record of the budget now. Only a preview of
    -- another day (dry run) takes the caller's reading.
    old_amount := case when p_day = today then private.budget_record(d.budget_resource_name) end;
    if old_amount is null and p_mode <> 'live' then
      old_amount := d.old_amount_micros::bigint;
    end if;
    new_amount := d.new_amount_micros::bigint;
    act := case
             when coalesce(d.action, 'hold') not in ('increase', 'decrease') or new_amount is null then 'hold'
             when old_amount is null then d.action
             when new_amount = old_amount then 'hold'
             when new_amount > old_amount then 'increase'
             else 'decrease'
           end;
    if act = 'hold' then
      new_amount := old_amount;
    end if;
    why := case
             when act = 'hold' then 'hold: ' || coalesce(nullif(btrim(d.reason), ''), 'no change')
             when d.skip_reason is not null then d.skip_reason
             when d.repeated
               then 'the same budget twice in one call: only its first change may be sent'
             else private.change_refusal(p_kind, p_mode, p_day, d.budget_resource_name, m.segment_id,
                                         old_amount, new_amount, d.expected_gap, null)
           end;
    ch_cap := (chan_caps ->> m.channel)::bigint;
    if why is null and (cap is not null or ch_cap is not null) then
      -- The account daily cap and the channel's, counted in the order given: a raise from
      -- what the budget may stand at; a decrease of this call makes room for the raises
      -- after it (the claim counts it only once the channel confirmed it).
      standing := private.budget_standing_amount(d.budget_resource_name);
      ch_total := coalesce((chan_totals ->> m.channel)::bigint, 0);
      if act = 'increase' and new_amount > standing then
        if total + new_amount - standing > cap then
          why := format('the day''s budgets would sum to %s micros, over the account daily cap of '
                        '%s micros: not sent', total + new_amount - standing, cap);
        elsif ch_total + new_amount - standing > ch_cap then
          why := format('the day''s %s budgets would sum to %s micros, over that channel''s daily cap '
                        'of %s micros: not sent', m.channel, ch_total + new_amount - standing, ch_cap);
        else
          total := total + new_amount - standing;
          chan_totals := jsonb_set(chan_totals, array[m.channel], to_jsonb(ch_total + new_amount - standing));
        end if;
      elsif act = 'decrease' and new_amount < standing then
        total := total - (standing - new_amount);
        chan_totals := jsonb_set(chan_totals, array[m.channel], to_jsonb(ch_total - (standing - new_amount)));
      end if;
    end if;
    insert into public.channel_orchestration_log as l (
      run_id, day, segment_id, channel, kind, customer_id, campaign_id, budget_resource_name, action,
      old_amount_micros, new_amount_micros, change_pct, expected_gap, inputs, reason, mode, status,
      error, triggered_by, completed_at)
    values (
      p_run_id, p_day, m.segment_id, m.channel, p_kind, m.customer_id, m.campaign_id, d.budget_resource_name, act,
      old_amount, new_amount,
      round((new_amount - old_amount) * 100.0 / nullif(old_amount, 0), 2),
      d.expected_gap, d.inputs, coalesce(nullif(btrim(d.reason), ''), 'no reason given'), p_mode,
      case when why is null and p_mode <> 'dry_run' then 'pending' else 'skipped' end,
      case when why is not null then why
           when p_mode = 'dry_run' then 'dry run: not sent to Google Ads' end,
      p_triggered_by,
      case when why is null and p_mode <> 'dry_run' then null else now() end)
    returning l.id, l.budget_resource_name, l.status, l.error
      into id, budget_resource_name, status, error;
    return next;
  end loop;
end
$$;
comment on function private.log_budget_decisions(uuid, date, text, text, text, jsonb) is
  'Write a run''s decisions to the audit log before anything is sent: the database sets each row''s '
  'segment, channel, old amount (its record of the budget) and action; rows that may go come back '
  'pending, the others skipped with why (private.change_refusal, the account and channel caps). Only by '
  'a run holding its lease.';
alter function private.log_budget_decisions(uuid, date, text, text, text, jsonb) owner to leadflow_money;

create or replace function public.log_budget_decisions(
  p_run_id uuid,
  p_day date,
  p_kind text,
  p_mode text,
  p_triggered_by text,
  p_decisions jsonb
)
returns table (id bigint, budget_resource_name text, status text, error text)
language sql
set search_path = ''
as $$
  select * from private.log_budget_decisions(p_run_id, p_day, p_kind, p_mode, p_triggered_by, p_decisions)
$$;
comment on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) is
  'Write the decisions of a run to the audit log before anything is sent ([{budget_resource_name, '
  'action, new_amount_micros, expected_gap, reason, inputs, skip_reason}]); the database decides the '
  'rest. Changes to send come back pending, the others skipped with why.';

-- -----------------------------------------------------------------------------
-- Claim: the gate
-- -----------------------------------------------------------------------------
create or replace function private.claim_budget_decisions(p_run_id uuid, p_ids bigint[])
returns table (id bigint, budget_resource_name text, new_amount_micros bigint, status text, error text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  today date := private.today_nl();
  enabled boolean;
  cap bigint;
  total bigint;
  standing bigint;
  chan_caps jsonb;
  chan_totals jsonb := '{}'::jsonb;
  ch_cap bigint;
  ch_total bigint;
  r record;
  why text;
begin
  perform private.lock_money();
  perform private.check_run_holds_lease(p_run_id);
  select o.changes_enabled, round(o.account_daily_cap * 1000000)::bigint into enabled, cap
    from public.orchestration_settings o;
  chan_caps := private.channel_caps();
  if cap is not null then
    total := (select coalesce(sum(sa.amount_micros), 0) from private.budget_standing_amounts() sa);
  end if;
  if chan_caps <> '{}'::jsonb then
    chan_totals := private.channel_standing_totals();
  end if;
  for r in
    select l.* from public.channel_orchestration_log l
     where l.id = any (p_ids) and l.run_id = p_run_id and l.status = 'pending'
     order by l.id
  loop
    why := case
             when not coalesce(enabled, false) then 'kill switch is on at send time: not sent'
             when r.action = 'hold' then 'a hold is never sent'
             else private.change_refusal(r.kind, r.mode, r.day, r.budget_resource_name, r.segment_id,
                                         r.old_amount_micros, r.new_amount_micros, r.expected_gap, r.id)
           end;
    ch_cap := (chan_caps ->> r.channel)::bigint;
    if why is null and (cap is not null or ch_cap is not null) and r.mode = 'live' then
      -- A raise counts from what the budget may stand at; a decrease only once the channel
      -- confirmed it (its record), so a refused one cannot make room.
      standing := private.budget_standing_amount(r.budget_resource_name);
      ch_total := coalesce((chan_totals ->> r.channel)::bigint, 0);
      if r.new_amount_micros > standing then
        if total + r.new_amount_micros - standing > cap then
          why := format('the day''s budgets would sum to %s micros, over the account daily cap of '
                        '%s micros: not sent', total + r.new_amount_micros - standing, cap);
        elsif ch_total + r.new_amount_micros - standing > ch_cap then
          why := format('the day''s %s budgets would sum to %s micros, over that channel''s daily cap '
                        'of %s micros: not sent', r.channel, ch_total + r.new_amount_micros - standing, ch_cap);
        else
          total := total + r.new_amount_micros - standing;
          chan_totals := jsonb_set(chan_totals, array[r.channel],
                                   to_jsonb(ch_total + r.new_amount_micros - standing));
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
comment on function private.claim_budget_decisions(uuid, bigint[]) is
  'The gate: claim a run''s pending rows for sending, re-checking at this moment the kill switch, the '
  'lease, private.change_refusal (mapping, active flags, bounds, daily limit of the base and of external '
  'changes, one change a day, budgets in doubt, the channel''s kill switch), the account daily cap and '
  'the channel''s. Claimed rows come back sent '
  '(send them within private.send_window()), the others skipped with why.';
alter function private.claim_budget_decisions(uuid, bigint[]) owner to leadflow_money;

create or replace function public.claim_budget_decisions(p_run_id uuid, p_ids bigint[])
returns table (id bigint, budget_resource_name text, new_amount_micros bigint, status text, error text)
language sql
set search_path = ''
as $$ select * from private.claim_budget_decisions(p_run_id, p_ids) $$;
comment on function public.claim_budget_decisions(uuid, bigint[]) is
  'Claim a run''s pending rows for sending: the database''s gate (see private.claim_budget_decisions). '
  'Refused (PT409) for a run without its lease.';

-- -----------------------------------------------------------------------------
-- Complete and reconcile
-- -----------------------------------------------------------------------------
create or replace function private.record_applied(p_log_ids bigint[]) returns void
language sql
security definer
set search_path = ''
as $$
  -- A live change Google Ads confirmed is the budget's new record.
  insert into private.budget_records as r (budget_resource_name, amount_micros, source, log_id, recorded_at)
  select distinct on (l.budget_resource_name) l.budget_resource_name, l.new_amount_micros, 'sent', l.id, now()
  from public.channel_orchestration_log l
  where l.id = any (p_log_ids) and l.mode = 'live' and l.status = 'success' and l.action <> 'hold'
  order by l.budget_resource_name, l.id desc
  on conflict (budget_resource_name) do update
    set amount_micros = excluded.amount_micros, source = 'sent', log_id = excluded.log_id,
        recorded_at = excluded.recorded_at
$$;
comment on function private.record_applied(bigint[]) is
  'Make the confirmed live changes among these log rows their budgets'' record.';
alter function private.record_applied(bigint[]) owner to leadflow_money;

create or replace function private.complete_budget_decisions(p_run_id uuid, p_results jsonb) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  done bigint[];
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception 'complete_budget_decisions: p_results must be an array' using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_results) as r (id bigint, status text, error text)
    where r.id is null or r.status is null or r.status not in ('success', 'failed', 'unknown')
       or (r.status in ('failed', 'unknown') and r.error is null)
  ) then
    raise exception 'complete_budget_decisions: each result needs an id and a status success, failed or '
      'unknown (with error)' using errcode = '22023';
  end if;
  perform private.lock_money();
  perform private.check_run_holds_lease(p_run_id);
  with answered as (
    update public.channel_orchestration_log l
       set status = r.status, error = r.error,
           completed_at = case when r.status = 'unknown' then null else now() end
      from jsonb_to_recordset(p_results) as r (id bigint, status text, error text)
     where l.id = r.id and l.run_id = p_run_id and l.status = 'sent'
    returning l.id
  )
  select coalesce(array_agg(a.id), '{}') into done from answered a;
  perform private.record_applied(done);
  return cardinality(done);
end
$$;
comment on function private.complete_budget_decisions(uuid, jsonb) is
  'Record Google Ads'' answer for rows the run sent; a success becomes the budget''s record.';
alter function private.complete_budget_decisions(uuid, jsonb) owner to leadflow_money;

create or replace function public.complete_budget_decisions(p_run_id uuid, p_results jsonb) returns integer
language sql
set search_path = ''
as $$ select private.complete_budget_decisions(p_run_id, p_results) $$;
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

create or replace function private.reconcile_budget_decisions(p_run_id uuid, p_observed jsonb) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  done bigint[];
begin
  -- p_observed: [{budget_resource_name, amount_micros}] as Google Ads holds them now.
  if jsonb_typeof(p_observed) is distinct from 'array' then
    raise exception 'reconcile_budget_decisions: p_observed must be an array' using errcode = '22023';
  end if;
  perform private.lock_money();
  perform private.check_run_holds_lease(p_run_id);
  with open as (
    select o.* from public.open_budget_decisions() o where o.reconcilable
  ),
  seen as (
    select distinct on (r.budget_resource_name) r.budget_resource_name, r.amount_micros
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
  ),
  settled as (
    update public.channel_orchestration_log l
       set status = outcome.status, error = outcome.error, completed_at = now()
      from outcome
     where l.id = outcome.id
    returning l.id
  )
  select coalesce(array_agg(s.id), '{}') into done from settled s;
  perform private.record_applied(done);
  return cardinality(done);
end
$$;
comment on function private.reconcile_budget_decisions(uuid, jsonb) is
  'Settle rows that ended runs left open, from the budgets Google Ads holds now: never-sent rows '
  'become skipped, in-doubt rows success (found applied: the new record) or failed. Only by a lease holder.';
alter function private.reconcile_budget_decisions(uuid, jsonb) owner to leadflow_money;

create or replace function public.reconcile_budget_decisions(p_run_id uuid, p_observed jsonb) returns integer
language sql
set search_path = ''
as $$ select private.reconcile_budget_decisions(p_run_id, p_observed) $$;
comment on function public.reconcile_budget_decisions(uuid, jsonb) is
  'Settle rows that ended runs left open, from the budgets Google Ads holds now ([{budget_resource_name, '
  'amount_micros}]). Only by a lease holder.';

revoke execute on function private.change_refusal(text, text, date, text, uuid, bigint, bigint, numeric, bigint)
  from public, anon, authenticated, service_role;
revoke execute on function private.record_applied(bigint[]) from public, anon, authenticated, service_role;
revoke execute on function private.log_budget_decisions(uuid, date, text, text, text, jsonb) from public, anon, authenticated;
revoke execute on function private.claim_budget_decisions(uuid, bigint[]) from public, anon, authenticated;
revoke execute on function private.complete_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function private.reconcile_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) from public, anon, authenticated;
revoke execute on function public.claim_budget_decisions(uuid, bigint[]) from public, anon, authenticated;
revoke execute on function public.complete_budget_decisions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function public.open_budget_decisions() from public, anon, authenticated;
revoke execute on function public.reconcile_budget_decisions(uuid, jsonb) from public, anon, authenticated;
grant execute on function private.log_budget_decisions(uuid, date, text, text, text, jsonb) to service_role;
grant execute on function private.claim_budget_decisions(uuid, bigint[]) to service_role;
grant execute on function private.complete_budget_decisions(uuid, jsonb) to service_role;
grant execute on function private.reconcile_budget_decisions(uuid, jsonb) to service_role;
grant execute on function public.log_budget_decisions(uuid, date, text, text, text, jsonb) to service_role;
grant execute on function public.claim_budget_decisions(uuid, bigint[]) to service_role;
grant execute on function public.complete_budget_decisions(uuid, jsonb) to service_role;
grant execute on function public.open_budget_decisions() to service_role, leadflow_money;
grant execute on function public.reconcile_budget_decisions(uuid, jsonb) to service_role;
