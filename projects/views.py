"""Pages of the projects app (filled in by the pages work)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def portfolio(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    raise NotImplementedError


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    raise NotImplementedError
