-- =============================================================================
-- leads (the marketplace's busy table): the segment and source columns Leadflow
-- adds, their constraints and indexes, and the trigger that fills them.
--
-- The deploy history applies this in steps that keep leads writable (columns and
-- NOT VALID constraints, then validation, then indexes built concurrently:
-- migrations 20261125000210 to 20261125000250, and msclkid in 20261206000210;
-- docs/DEPLOY.md). This file is the state they reach. The source channel is a key
-- of public.ad_channels, checked by the trigger (05_lead_sources.sql).
-- =============================================================================

alter table public.leads
  add column if not exists segment_id uuid,
  add column if not exists source_channel text,
  add column if not exists source_campaign_id text,
  add column if not exists source_keyword text,
  add column if not exists msclkid text;

alter table public.leads add constraint leads_segment_id_fkey
  foreign key (segment_id) references public.lead_segments (id) on delete set null;

comment on column public.leads.segment_id is 'Set by trigger from (industry_id, region_code); null while no such segment exists.';
comment on column public.leads.source_channel is 'A channel of public.ad_channels; derived from the click ids and UTM fields by public.channel_attribution_rules unless given.';
comment on column public.leads.msclkid is 'Microsoft Advertising click id (like gclid for Google Ads).';
comment on column public.leads.source_campaign_id is 'Campaign the lead came from (utm_campaign unless given).';
comment on column public.leads.source_keyword is 'Search keyword the lead came from (utm_term unless given).';

create index if not exists leads_segment_id_created_at_idx on public.leads (segment_id, created_at);
create index if not exists leads_created_at_idx on public.leads (created_at);
create index if not exists leads_unassigned_idx on public.leads (industry_id, region_code) where segment_id is null;

create trigger leads_assign_segment
  before insert or update of industry_id, region_code, gclid, msclkid, utm_source, utm_medium, utm_campaign,
    utm_term, source_channel
  on public.leads
  for each row execute function private.assign_lead_segment();
