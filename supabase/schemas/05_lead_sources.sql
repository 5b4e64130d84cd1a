-- =============================================================================
-- Leads: how a lead finds its segment and source channel.
-- The columns and the trigger are in 06_leads_columns.sql.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Attribution: a lead's channel from its click fields, by data
-- -----------------------------------------------------------------------------
create table public.channel_attribution_rules (
  priority integer primary key check (priority > 0),
  channel text not null references public.ad_channels (key),
  -- A click id the lead carries (a column of leads), or UTM values (lower case; '' matches
  -- a missing value): the first rule by priority that matches names the channel.
  click_id text check (click_id in ('gclid', 'msclkid')),
  utm_sources text[],
  utm_mediums text[],
  note text,
  check (click_id is not null or utm_sources is not null or utm_mediums is not null)
);
comment on table public.channel_attribution_rules is
  'How a lead''s source_channel is found: the first rule by priority whose click id the lead carries, '
  'or whose UTM source and medium lists (null: any; an empty string matches a missing value) contain '
  'the lead''s. No rule matches: other. Admins write; a new channel is a row of ad_channels and its rules.';

insert into public.channel_attribution_rules (priority, channel, click_id, utm_sources, utm_mediums, note) values
  (10, 'google_ads', 'gclid', null, null, 'Google click id'),
  (20, 'microsoft_ads', 'msclkid', null, null, 'Microsoft click id'),
  (30, 'google_ads', null, array['google', 'adwords', 'google_ads', 'googleads', ''],
   array['cpc', 'ppc', 'paid', 'paid_search', 'paidsearch', 'sem'], 'paid Google UTMs (no source: Google)'),
  (40, 'microsoft_ads', null,
   array['bing', 'microsoft', 'msn', 'bing_ads', 'bingads', 'microsoft_ads', 'microsoftads'],
   array['cpc', 'ppc', 'paid', 'paid_search', 'paidsearch', 'sem'], 'paid Bing UTMs'),
  (50, 'microsite', null, array['microsite'], null, 'microsite as source'),
  (60, 'microsite', null, null, array['microsite'], 'microsite as medium'),
  (70, 'seo', null, null, array['organic', 'seo'], 'organic search');

create index channel_attribution_rules_channel_idx on public.channel_attribution_rules (channel);

-- Changed in the SQL editor or by a migration (a new channel's rules), like the settings.
alter table public.channel_attribution_rules enable row level security;
revoke all on table public.channel_attribution_rules from anon, authenticated, service_role;
grant select on table public.channel_attribution_rules to service_role;
create policy "The service role reads attribution rules"
  on public.channel_attribution_rules for select to service_role using (true);

create or replace function private.lead_source_channel(
  p_gclid text, p_msclkid text, p_utm_source text, p_utm_medium text
) returns text
language sql stable
set search_path = ''
as $$
  select coalesce((
    select r.channel
    from public.channel_attribution_rules r
    where case r.click_id
            when 'gclid' then nullif(btrim(p_gclid), '') is not null
            when 'msclkid' then nullif(btrim(p_msclkid), '') is not null
            else (r.utm_sources is null
                  or coalesce(lower(btrim(p_utm_source)), '') = any (r.utm_sources))
             and (r.utm_mediums is null
                  or coalesce(lower(btrim(p_utm_medium)), '') = any (r.utm_mediums))
          end
    order by r.priority
    limit 1
  ), 'other')
$$;
comment on function private.lead_source_channel(text, text, text, text) is
  'Channel of a lead from its click fields (gclid, msclkid, utm_source, utm_medium), by the first '
  'matching public.channel_attribution_rules row; other when none matches.';

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

create or replace function public.assign_lead_segments(p_from date, p_to date) returns integer
language plpgsql
set search_path = ''
as $$
declare
  assigned integer;
begin
  if p_from is null or p_to is null or p_from > p_to then
    raise exception 'assign_lead_segments needs from <= to, got % .. %', p_from, p_to
      using errcode = '22023';
  end if;
  update public.leads l
     set segment_id = s.id
    from public.lead_segments s
   where l.segment_id is null
     and s.industry_id = l.industry_id
     and s.region_code = l.region_code
     and l.created_at >= (p_from::timestamp at time zone 'Europe/Amsterdam')
     and l.created_at < ((p_to + 1)::timestamp at time zone 'Europe/Amsterdam');
  get diagnostics assigned = row_count;
  return assigned;
end
$$;
comment on function public.assign_lead_segments(date, date) is
  'Backfill: give leads created on Dutch days from..to without a segment the segment that now exists. Returns the count.';
revoke execute on function public.assign_lead_segments(date, date) from public, anon, authenticated;
grant execute on function public.assign_lead_segments(date, date) to service_role;

-- Leads that existed before 20261125000210 have no source fields, and no segment
-- while none existed. They are filled here in small batches after the schema
-- change, each batch its own short transaction (`leadflow db migrate` runs them
-- after the migrations; docs/DEPLOY.md), never inside the migration that holds
-- the lock on leads.
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
