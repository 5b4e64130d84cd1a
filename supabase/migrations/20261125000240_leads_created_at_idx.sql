-- Built concurrently: SHARE UPDATE EXCLUSIVE on leads, so inserts, updates and
-- reads go on while it builds (it waits for transactions older than itself).
-- Not in a transaction: the Supabase CLI and `leadflow db migrate` run this
-- file statement by statement, so it holds nothing else (docs/DEPLOY.md).
-- Session settings (`set`, not `set local`), reset at the end.
set lock_timeout = '10s';
set statement_timeout = '30min';
create index concurrently if not exists leads_created_at_idx on public.leads (created_at);
reset statement_timeout;
reset lock_timeout;
