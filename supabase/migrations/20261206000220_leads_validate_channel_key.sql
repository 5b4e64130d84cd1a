-- =============================================================================
-- leads: validate the channel key 20261206000210 added NOT VALID.
--
-- VALIDATE CONSTRAINT scans leads under SHARE UPDATE EXCLUSIVE (and ROW SHARE on
-- ad_channels): inserts, updates and reads go on. Its own transaction.
-- =============================================================================

set local lock_timeout = '5s';
-- The scan reads the whole table (about 10 s per 10 M leads); writers are not blocked.
set local statement_timeout = '10min';

alter table public.leads validate constraint leads_source_channel_fkey;
