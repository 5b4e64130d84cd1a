-- =============================================================================
-- Grants that span subjects: no API role executes a private helper unless
-- granted it by name.
-- =============================================================================

-- Short lock waits on a live project (docs/DEPLOY.md): give up rather than queue.
set local lock_timeout = '1s';
set local statement_timeout = '30s';

revoke execute on all functions in schema private from public, anon;
grant execute on function private.today_nl(), private.is_admin(), private.has_profile(),
  private.readable_segment_ids(),
  private.segment_campaigns_for_admin(uuid)
  to authenticated, service_role;
-- The money owner's functions cut every rule on the database's day.
grant execute on function private.today_nl(), private.is_admin() to leadflow_money;
