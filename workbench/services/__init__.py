"""Every write of the lead's side: each function checks the actor's role, validates, applies the
change atomically and writes one line to the activity log.

- datarequests: data requests (filing, comments, triage: accept creates the project, reject)
- lifecycle: project settings (create, update) and phases (rules, guards, project_transition, hold)
- milestones: milestones (plan, re-plan, reached)
- blockers: blockers and risks (open, assign, resolve)
- progress: the progress recount and the gold-bar pause sweep
"""
