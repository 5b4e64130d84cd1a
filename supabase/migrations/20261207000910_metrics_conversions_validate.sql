-- ad_campaign_daily_metrics: validate the check 20261207000900 added NOT VALID.
--
-- VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE: reads and writes go on;
-- only other DDL and (auto)vacuum of the table wait. A row already 'NaN' fails it: delete or
-- correct it (the aggregate's next run re-fetches the day) and run the migration again.
set local lock_timeout = '5s';
set local statement_timeout = '5min';

alter table public.ad_campaign_daily_metrics
  validate constraint ad_campaign_daily_metrics_conversions_not_nan;
