-- =============================================================================
-- Performance: storage settings found with bench/jobs_bench.py (bench/RESULTS.md,
-- "Jobs"). Nothing here changes what any function computes or returns.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- -----------------------------------------------------------------------------
-- lead_segment_plans: room on each page for the next version of its rows
-- -----------------------------------------------------------------------------
-- Every plan row is rewritten right after it is written: plan_lead_segments inserts
-- the day's plans and then update_lead_gaps updates every one of them; the aggregate
-- job (gaps) and the orchestrate job (budget and status) update them again. None of
-- these updates changes an indexed column, so with free space on the page they are
-- HOT updates (no new index entries, dead versions pruned in place). Full pages made
-- each of them a new row elsewhere plus an entry in both indexes: at 10,000 segments
-- this took plan_lead_segments from 0.74 to 0.58 s of CPU. Half-full pages cost little
-- space, since every row has a dead version after its first update anyway.
-- Applies to pages filled from now on; existing pages are not rewritten.
alter table public.lead_segment_plans set (fillfactor = 50);
