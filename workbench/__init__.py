"""The lead's side: a project's lifecycle (requests triage, phases, milestones, blockers and risks),
its rollups, forecasts and retrospectives, and the lead's dashboard pages and API. It owns no
tables: the rows it writes are the project floor's (projects.models)."""
