-- ad_campaign_daily_metrics.conversions: refuse 'NaN'.
--
-- A numeric column holds 'NaN', and 'NaN' >= 0 is true in PostgreSQL (NaN sorts above every
-- number), so the check let it in: a JSON string "NaN" through record_campaign_metrics was
-- stored, and the response estimate read it as a count. A second check names it. Added NOT
-- VALID here (new rows checked at once); 20261207000910 validates the existing rows in its
-- own transaction, so that this one's lock is gone by then.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

-- supabase/schemas/09_stats.sql
alter table public.ad_campaign_daily_metrics
  add constraint ad_campaign_daily_metrics_conversions_not_nan
    check (conversions <> 'NaN') not valid;
