from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its landing page."""
    user = request.user
    if user.is_lead:
        return redirect("projects:portfolio")
    if user.role == user.Role.REQUESTER:
        return redirect("projects:request_list")
    if user.is_staff and user.role == user.Role.ANNOTATOR and not user.memberships.exists():
        return redirect("staff:users")  # staff who do not label: their work is people and teams
    return redirect("annotation:queue")
