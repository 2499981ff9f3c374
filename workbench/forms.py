"""Page forms of the projects app. They parse and coerce what a page posts; the rules live in
services.py, which validates again and explains refusals (forms hold no business logic)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django import forms

from projects.models import Blocker

if TYPE_CHECKING:
    from accounts.models import User


class BlockerOpenForm(forms.Form):
    """Open a blocker or risk. `owner` is offered from the project's members, passed in by the view
    from the already loaded memberships (so rendering the form costs no query)."""

    title = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Blocker.Kind.choices, initial=Blocker.Kind.BLOCKER)
    severity = forms.TypedChoiceField(choices=Blocker.Severity.choices, coerce=int, initial=Blocker.Severity.MEDIUM)
    owner = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, members: Iterable[User] = (), **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self._members = {user.pk: user for user in members}
        self.fields["owner"].choices = [
            ("", "Nobody yet"),
            *((pk, user.display_name) for pk, user in self._members.items()),
        ]

    def clean_owner(self) -> User | None:
        owner_id = self.cleaned_data["owner"]
        return None if owner_id is None else self._members[owner_id]


class MilestoneForm(forms.Form):
    """Plan a milestone, re-plan it or record when it was reached (the view picks the service)."""

    name = forms.CharField(max_length=200, required=False)
    planned_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    actual_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    notes = forms.CharField(required=False, max_length=2000)


class BlockerAssignForm(forms.Form):
    """Give a blocker to one of the project's members (offered from the loaded memberships)."""

    owner = forms.TypedChoiceField(coerce=int)

    def __init__(self, *args, members: Iterable[User] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._members = {user.pk: user for user in members}
        self.fields["owner"].choices = [(pk, user.display_name) for pk, user in self._members.items()]

    def clean_owner(self) -> User:
        return self._members[self.cleaned_data["owner"]]
