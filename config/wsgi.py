"""The WSGI application: Django's handler with the work loop's fast lane (config/fastlane.py)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application

from config.fastlane import QuorumWSGIHandler  # noqa: E402 - needs the apps loaded

application = QuorumWSGIHandler()
