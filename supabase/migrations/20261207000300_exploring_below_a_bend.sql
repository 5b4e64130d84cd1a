-- Exploring below a bend (issue 24): a segment cut because its next accepted lead costs more
-- than it is worth is raised by the daily limit while its elasticity is uncertain enough
-- that an S-shaped curve may bend above it (leadflow.controller.steering.explore).
set local lock_timeout = '1s';
set local statement_timeout = '30s';

alter table public.orchestration_settings
  add column explore_sd numeric(4, 2) not null default 1.50 check (explore_sd >= 0 and explore_sd <= 5);
comment on column public.orchestration_settings.explore_sd is
  'Exploring below a bend: a segment under target whose next accepted lead costs more than it is worth '
  'is still raised by the daily limit when, at its elasticity plus explore_sd standard deviations, the '
  'curve would be convex there and the average accepted lead would fall to its worth within the target '
  'and the segment maximum; 0: never.';
