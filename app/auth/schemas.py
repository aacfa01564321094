"""Input for accounts: sponsor registration, contact details, sign-in, librarian invitation."""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from app.auth.models import OrganisationKind, SponsorType
from app.auth.passwords import password_problem
from app.forms import FieldError
from app.i18n import _

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
OrgName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
# A Vietnamese tax code: an enterprise's 10 digits, or 10 digits and a 3-digit branch suffix; since
# 1 July 2025 an individual's or a household business's is their 12-digit personal identification
# number. Typed with spaces or dots between the groups, it is kept without them.
TAX_CODE = re.compile(r"^(\d{10}(-\d{3})?|\d{12})$")
PHONE = re.compile(r"^\+?[0-9 .]{8,15}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class SponsorRegistration(Strict):
    email: EmailStr
    password: str
    full_name: Name
    phone: Phone | None = None
    address: Address | None = None
    sponsor_type: SponsorType = SponsorType.INDIVIDUAL
    organisation_name: OrgName | None = None
    organisation_kind: OrganisationKind | None = None
    tax_code: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        self.email = self.email.lower()
        problem = password_problem(self.password, self.email)
        if problem:
            raise FieldError("password", problem)
        if self.phone and not PHONE.match(self.phone):
            raise FieldError("phone", _("Enter a phone number of 8 to 15 digits."))
        if self.sponsor_type == SponsorType.ORGANISATION:
            if not self.organisation_name:
                raise FieldError("organisation_name", _("Give the organisation's name."))
            if not self.organisation_kind:
                raise FieldError("organisation_kind", _("Choose the kind of organisation."))
            if self.organisation_kind == OrganisationKind.ENTERPRISE and not self.tax_code:
                raise FieldError("tax_code", _("An enterprise must give its tax code."))
        else:
            self.organisation_name = self.organisation_kind = None
        if self.tax_code:
            self.tax_code = re.sub(r"[\s.]", "", self.tax_code)
        if self.tax_code and not TAX_CODE.match(self.tax_code):
            raise FieldError("tax_code", _(
                "A tax code has 10 digits (an enterprise), 10 digits, a dash and 3 digits (a branch), "
                "or 12 digits (a household business or an individual)."
            ))
        return self


class ContactDetails(Strict):
    """What a signed-in user may change on their account page (blank clears it)."""

    phone: Phone | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.phone and not PHONE.match(self.phone):
            raise FieldError("phone", _("Enter a phone number of 8 to 15 digits."))
        return self


class PasswordChange(Strict):
    """A signed-in user's new password: the current one, and the new one typed twice (a phone's
    keyboard makes typing mistakes easy, and a mistyped new password would lock them out)."""

    current_password: Annotated[str, Field(min_length=1, max_length=200)]
    new_password: Annotated[str, Field(min_length=1, max_length=200)]
    new_password_again: Annotated[str, Field(min_length=1, max_length=200)]


class PasswordResetRequest(Strict):
    email: EmailStr


class NewPassword(Strict):
    """A new password typed twice (the reset link's form)."""

    new_password: Annotated[str, Field(min_length=1, max_length=200)]
    new_password_again: Annotated[str, Field(min_length=1, max_length=200)]


class LibrarianInvitation(Strict):
    email: EmailStr
    full_name: Name
    library_id: int
    phone: Phone | None = None

    @model_validator(mode="after")
    def _lower(self) -> Self:
        self.email = self.email.lower()
        return self


class SignIn(Strict):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


