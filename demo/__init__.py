"""The demo seeding: believable history made through the services, figures computed, never
written by hand. `manage.py seed_demo` loads it."""
