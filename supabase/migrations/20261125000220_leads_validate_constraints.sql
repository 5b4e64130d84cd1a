-- =============================================================================
-- leads: validate the constraints 20261125000210 added NOT VALID.
--
-- VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE on leads
-- (and ROW SHARE on lead_segments): inserts, updates and reads go on; only
-- other DDL and (auto)vacuum of leads wait. Its own transaction, so that the
-- lock 20261125000210 took is long gone.
-- =============================================================================

set local lock_timeout = '5s';
-- The scan reads the whole table (about 10 s per 10 M leads); writers are not blocked.
set local statement_timeout = '10min';

alter table public.leads validate constraint leads_segment_id_fkey;
alter table public.leads validate constraint leads_source_channel_check;
