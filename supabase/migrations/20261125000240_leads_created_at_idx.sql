-- Built concurrently: SHARE UPDATE EXCLUSIVE on leads, so inserts and updates go on
-- while it builds. Non-transactional, so the file's only statement (the Supabase CLI
-- sends a file as one pipeline, where CONCURRENTLY may only come first; docs/DEPLOY.md).
create index concurrently if not exists leads_created_at_idx on public.leads (created_at);
