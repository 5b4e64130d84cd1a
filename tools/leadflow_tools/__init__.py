"""Leadflow's local tools: the `leadflow` CLI, the demo marketplace and market
simulation, an in-memory Google Ads, the HTML report, the embedded Postgres,
the migration runner and the database linter.

They run on a laptop or in CI, never in the deployed functions: the core
package `leadflow` never imports them (an import-linter contract in `make test`).
"""
