-- =============================================================================
-- The rules of a budget change: one function says whether a change may be sent
-- now (private.change_refusal), used by the log, the claim (17_claims_and_caps)
-- and the log's insert trigger alike. docs/MONEY_SAFETY.md lists them.
-- =============================================================================

create or replace function private.change_refusal(
  p_kind text,
  p_mode text,
  p_day date,
  p_budget text,
  p_segment_id uuid,
  p_old bigint,
  p_new bigint,
  p_expected_gap numeric,
  p_log_id bigint
) returns text
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  today date := private.today_nl();
  settings record;
  m record;
  base bigint;
  other bigint;
  ext record;
begin
  select o.changes_enabled, o.max_daily_change into settings from public.orchestration_settings o;
  if not found then
    return 'orchestration_settings has no row: nothing is sent without the daily limit';
  end if;
  if p_budget is null or p_new is null then
    return 'a change needs a budget and its new amount';
  end if;
  if p_new < 0 or p_new % 10000 <> 0 then
    return format('%s micros is not a whole number of cents', p_new);
  end if;
  select cb.segment_id, cb.is_active as mapping_active, s.code, s.is_active as segment_active,
         round(s.min_daily_budget * 1000000)::bigint as lo,
         round(s.max_daily_budget * 1000000)::bigint as hi,
         c.label as channel, c.kill_switch as channel_killed
    into m
    from public.segment_campaign_budgets cb
    join public.lead_segments s on s.id = cb.segment_id
    join public.ad_channels c on c.key = cb.channel
   where cb.budget_resource_name = p_budget;
  if not found then
    return 'the budget is not mapped to a segment (any more): Leadflow does not change it';
  end if;
  if p_segment_id is distinct from m.segment_id then
    return format('the budget is now mapped to segment %s, not the one decided for', m.code);
  end if;
  if not m.mapping_active then
    return 'the budget''s mapping is inactive';
  end if;
  if not m.segment_active then
    return format('segment %s is inactive', m.code);
  end if;
  if p_new < m.lo or p_new > m.hi then
    return format('%s euro is outside the segment''s bounds %s .. %s euro',
                  round(p_new / 1000000.0, 2), round(m.lo / 1000000.0, 2), round(m.hi / 1000000.0, 2));
  end if;
  if p_kind = 'adjust' and p_old is not null
     and not coalesce(sign(p_expected_gap) = sign(p_new - p_old), false) then
    return format('an adjustment never goes against the expected gap: %s -> %s micros with a gap of %s',
                  p_old, p_new, coalesce(p_expected_gap::text, 'unknown'));
  end if;
  if p_mode = 'live' or (p_mode = 'dry_run' and p_day = today) then
    if p_mode = 'live' and p_day is distinct from today then
      return format('live changes are only for today (%s), not %s', today, p_day);
    end if;
    other := (select l.id from public.channel_orchestration_log l
               where l.budget_resource_name = p_budget and l.mode = 'live' and l.kind = p_kind
                 and l.day = today and l.action <> 'hold'
                 and l.status in ('pending', 'sent', 'unknown', 'success')
                 and l.id is distinct from p_log_id
               order by l.id limit 1);
    if other is not null then
      return format('already changed today (log #%s); not applied twice', other);
    end if;
    other := (select l.id from public.channel_orchestration_log l
               where l.budget_resource_name = p_budget and l.mode = 'live'
                 and l.status in ('sent', 'unknown') and l.id is distinct from p_log_id
               order by l.id limit 1);
    if other is not null then
      return format('the outcome of log #%s is not known yet; nothing more is sent for this budget '
                    'until it is reconciled with %s', other, m.channel);
    end if;
    base := private.budget_day_base(p_budget, today);
    if base is null then
      return format('never reported by %s: no base to measure the daily limit from', m.channel);
    end if;
    if p_kind = 'rollback' and p_new <> base then
      return format('a rollback restores the amount of the start of today (%s micros), not %s',
                    base, p_new);
    end if;
    if abs(p_new - base) > floor(base * settings.max_daily_change) then
      return format('%s euro is more than %s %% from today''s starting budget of %s euro',
                    round(p_new / 1000000.0, 2), trim_scale(settings.max_daily_change * 100),
                    round(base / 1000000.0, 2));
    end if;
    for ext in
      select e.id, e.observed_micros from private.budget_external_changes e
       where e.budget_resource_name = p_budget and e.accepted_at is null
       order by e.id
    loop
      if abs(p_new - ext.observed_micros) > floor(ext.observed_micros * settings.max_daily_change) then
        return format('%s was seen holding %s micros, not the %s on record (external change '
                      '#%s): a change stays within %s %% of both until an admin accepts one',
                      m.channel, ext.observed_micros, base, ext.id, settings.max_daily_change * 100);
      end if;
    end loop;
  end if;
  if not coalesce(settings.changes_enabled, false) then
    return 'kill switch is on: not sent';
  end if;
  if m.channel_killed then
    return format('the kill switch of %s is on: not sent', m.channel);
  end if;
  return null;
end
$$;
comment on function private.change_refusal(text, text, date, text, uuid, bigint, bigint, numeric, bigint) is
  'Why a budget change may not be sent now (null: it may): mapping, active flags, whole cents, bounds, '
  'the sign of the gap, live only today, the daily limit of the day''s base and of every open external '
  'change, one change per budget per day, nothing while in doubt, the kill switch and the channel''s. Everything is read '
  'from the database; only the new amount and the gap come from the decision.';
alter function private.change_refusal(text, text, date, text, uuid, bigint, bigint, numeric, bigint)
  owner to leadflow_money;

-- Whatever inserts into the log (the owner included) passes the same rules.
create or replace function private.check_budget_decision() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  why text;
begin
  if new.status not in ('pending', 'skipped') or new.sent_on is not null or new.claimed_at is not null then
    raise exception 'a decision is logged pending or skipped; only sending and Google Ads'' answer move it on'
      using errcode = '23514';
  end if;
  if new.action = 'hold' then
    if new.new_amount_micros is distinct from new.old_amount_micros then
      raise exception 'a hold keeps the budget: new must equal old' using errcode = '23514';
    end if;
    if new.status = 'pending' then
      raise exception 'a hold is never sent: it is logged skipped' using errcode = '23514';
    end if;
    return new;
  end if;
  if new.status = 'skipped' then
    return new;  -- a record of what was not done
  end if;
  if new.old_amount_micros is null
     or (new.action = 'increase') <> (new.new_amount_micros > new.old_amount_micros)
     or (new.action = 'decrease') <> (new.new_amount_micros < new.old_amount_micros) then
    raise exception 'an % must % the budget (% -> % micros)', new.action,
      case new.action when 'increase' then 'raise' else 'lower' end,
      new.old_amount_micros, new.new_amount_micros using errcode = '23514';
  end if;
  if new.mode = 'live' and new.old_amount_micros
       is distinct from private.budget_record(new.budget_resource_name) then
    raise exception 'a live change starts from the database''s record of the budget (% micros), not %',
      private.budget_record(new.budget_resource_name), new.old_amount_micros
      using errcode = '23514';
  end if;
  why := private.change_refusal(new.kind, new.mode, new.day, new.budget_resource_name, new.segment_id,
                                new.old_amount_micros, new.new_amount_micros, new.expected_gap, new.id);
  if why is not null then
    raise exception '%', why using errcode = '23514';
  end if;
  return new;
end
$$;
comment on function private.check_budget_decision() is
  'Trigger: a decision is logged pending (to send) only if private.change_refusal finds nothing against '
  'it and it starts from the database''s record; holds and skipped rows are records, never sent.';
alter function private.check_budget_decision() owner to leadflow_money;

create trigger channel_orchestration_log_check_decision
  before insert on public.channel_orchestration_log
  for each row execute function private.check_budget_decision();

