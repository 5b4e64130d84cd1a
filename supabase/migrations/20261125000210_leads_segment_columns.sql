-- =============================================================================
-- leads (an existing, busy production table): the segment and source columns,
-- their constraints (not yet validated) and the trigger that fills them.
--
-- Everything here is a catalog change: the ACCESS EXCLUSIVE lock that
-- `alter table` takes on leads is held until this file commits, so nothing in
-- it may read the table. The constraints are validated by ..._220, the indexes
-- are built concurrently by ..._230 to ..._250, and existing leads are filled
-- in batches after the migrations (public.backfill_lead_sources). docs/DEPLOY.md
-- lists what each step locks and for how long.
-- =============================================================================

-- Give up after 1 s rather than wait behind a long transaction: while this file
-- waits for its lock, every insert into leads queues behind it.
set local lock_timeout = '1s';
set local statement_timeout = '5s';

alter table public.leads
  add column if not exists segment_id uuid,
  add column if not exists source_channel text,
  add column if not exists source_campaign_id text,
  add column if not exists source_keyword text;

-- NOT VALID: checked for new rows from now on, existing rows are validated by
-- 20261125000220 under a lock that lets inserts through.
do $$
begin
  if not exists (
    select 1 from pg_constraint where conname = 'leads_segment_id_fkey'
      and conrelid = 'public.leads'::regclass
  ) then
    alter table public.leads add constraint leads_segment_id_fkey
      foreign key (segment_id) references public.lead_segments (id) on delete set null
      not valid;
  end if;
  if not exists (
    select 1 from pg_constraint where conname = 'leads_source_channel_check'
      and conrelid = 'public.leads'::regclass
  ) then
    alter table public.leads add constraint leads_source_channel_check
      check (source_channel in ('google_ads', 'seo', 'microsite', 'other'))
      not valid;
  end if;
end
$$;

comment on column public.leads.segment_id is 'Set by trigger from (industry_id, region_code); null while no such segment exists.';
comment on column public.leads.source_channel is 'google_ads, seo, microsite or other; derived from gclid / UTM fields unless given.';
comment on column public.leads.source_campaign_id is 'Campaign the lead came from (utm_campaign unless given).';
comment on column public.leads.source_keyword is 'Search keyword the lead came from (utm_term unless given).';

-- From this commit on, every new lead gets its segment and source; the leads
-- that existed before are filled by public.backfill_lead_sources.
drop trigger if exists leads_assign_segment on public.leads;
create trigger leads_assign_segment
  before insert or update of industry_id, region_code, gclid, utm_source, utm_medium, utm_campaign, utm_term
  on public.leads
  for each row execute function private.assign_lead_segment();
