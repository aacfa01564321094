"""Domain errors raised by services; the app maps them to HTTP answers with a message."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the change. `message` is already in the user's language."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IllegalTransition(DomainError):
    status_code = 409


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class ValidationFailed(DomainError):
    """Input that breaks a rule; `errors` maps field names to messages."""

    status_code = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors
