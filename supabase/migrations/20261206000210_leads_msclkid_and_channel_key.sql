-- =============================================================================
-- leads: the Microsoft click id, and the channel as a key of public.ad_channels
-- (checked by the trigger, in place of the check constraint listing channels).
--
-- Catalog changes only, under the ACCESS EXCLUSIVE lock of `alter table`: nothing
-- here reads leads (docs/DEPLOY.md). The check constraint dropped is replaced by the
-- trigger's check; the function dropped has a new signature, made in ..._200.
-- squawk-ignore-file ban-drop-constraint, ban-drop-function
-- =============================================================================

set local lock_timeout = '1s';
set local statement_timeout = '5s';

alter table public.leads add column if not exists msclkid text;
comment on column public.leads.msclkid is 'Microsoft Advertising click id (like gclid for Google Ads).';
-- The channel becomes a key of public.ad_channels, checked by the trigger below (no
-- foreign key: its index on this busy table would serve nothing, channels are never deleted).
alter table public.leads drop constraint if exists leads_source_channel_check;
comment on column public.leads.source_channel is 'A channel of public.ad_channels; derived from the click ids and UTM fields by public.channel_attribution_rules unless given.';

create or replace function private.assign_lead_segment() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT'
     or new.industry_id is distinct from old.industry_id
     or new.region_code is distinct from old.region_code then
    new.segment_id := (
      select s.id from public.lead_segments s
      where s.industry_id = new.industry_id and s.region_code = new.region_code
    );
  end if;

  if tg_op = 'INSERT' then
    new.source_channel := coalesce(
      new.source_channel,
      private.lead_source_channel(new.gclid, new.msclkid, new.utm_source, new.utm_medium)
    );
    new.source_campaign_id := coalesce(new.source_campaign_id, new.utm_campaign);
    new.source_keyword := coalesce(new.source_keyword, new.utm_term);
  else
    -- Click fields changed: derive again, unless the same update sets the value itself.
    if new.source_channel is not distinct from old.source_channel
       and (new.gclid is distinct from old.gclid
            or new.msclkid is distinct from old.msclkid
            or new.utm_source is distinct from old.utm_source
            or new.utm_medium is distinct from old.utm_medium) then
      new.source_channel := private.lead_source_channel(new.gclid, new.msclkid, new.utm_source, new.utm_medium);
    end if;
    if new.source_campaign_id is not distinct from old.source_campaign_id
       and new.utm_campaign is distinct from old.utm_campaign then
      new.source_campaign_id := new.utm_campaign;
    end if;
    if new.source_keyword is not distinct from old.source_keyword
       and new.utm_term is distinct from old.utm_term then
      new.source_keyword := new.utm_term;
    end if;
  end if;
  -- The channel, derived or given by the writer, is a key of ad_channels (channels are never
  -- deleted, so this holds for the lead's lifetime without a foreign key, whose index on
  -- this busy table would serve nothing).
  if new.source_channel is not null
     and not exists (select 1 from public.ad_channels c where c.key = new.source_channel) then
    raise exception 'leads.source_channel % is not a channel (public.ad_channels)', new.source_channel
      using errcode = '23503';
  end if;
  return new;
end
$$;
comment on function private.assign_lead_segment() is
  'Trigger: sets leads.segment_id from (industry, region) and the source fields from the click ids / UTM.';

create or replace function public.backfill_lead_sources(p_after uuid, p_limit integer)
returns table (scanned integer, updated integer, last_id uuid)
language plpgsql
set search_path = ''
as $$
begin
  if p_limit is null or p_limit < 1 or p_limit > 50000 then
    raise exception 'backfill_lead_sources needs 1 <= limit <= 50000, got %', p_limit
      using errcode = '22023';
  end if;
  return query
  with batch as (
    select l.id
    from public.leads l
    where p_after is null or l.id > p_after
    order by l.id
    limit p_limit
  ),
  changed as (
    update public.leads l
       set source_channel = coalesce(
             l.source_channel, private.lead_source_channel(l.gclid, l.msclkid, l.utm_source, l.utm_medium)),
           source_campaign_id = coalesce(l.source_campaign_id, l.utm_campaign),
           source_keyword = coalesce(l.source_keyword, l.utm_term),
           segment_id = coalesce(l.segment_id, (
             select s.id from public.lead_segments s
             where s.industry_id = l.industry_id and s.region_code = l.region_code))
      from batch b
     where l.id = b.id
       and (l.source_channel is null
            or (l.segment_id is null and exists (
                  select 1 from public.lead_segments s
                  where s.industry_id = l.industry_id and s.region_code = l.region_code)))
    returning 1
  )
  select (select count(*)::integer from batch),
         (select count(*)::integer from changed),
         (select b.id from batch b order by b.id desc limit 1);
end
$$;
comment on function public.backfill_lead_sources(uuid, integer) is
  'Backfill one batch: the next p_limit leads by id after p_after get their source fields and '
  'segment where missing. Returns rows scanned, rows changed and the last id (null when done).';
revoke execute on function public.backfill_lead_sources(uuid, integer) from public, anon, authenticated;
grant execute on function public.backfill_lead_sources(uuid, integer) to service_role;

drop function private.lead_source_channel(text, text, text);

drop trigger leads_assign_segment on public.leads;
create trigger leads_assign_segment
  before insert or update of industry_id, region_code, gclid, msclkid, utm_source, utm_medium, utm_campaign,
    utm_term, source_channel
  on public.leads
  for each row execute function private.assign_lead_segment();
