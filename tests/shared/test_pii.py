from typing import Annotated

from pydantic import BaseModel

from shared import PII, mask_email, mask_phone, mask_text, pii_fields


class Address(BaseModel):
    street: Annotated[str, PII]
    city: str


class Person(BaseModel):
    id: int
    email: Annotated[str, PII]
    address: Address
    previous: list[Address]


def test_pii_fields_are_found_in_nested_models_and_lists() -> None:
    assert pii_fields(Person) == ["email", "address.street", "previous.street"]


def test_email_is_masked_to_first_letter_and_domain() -> None:
    assert mask_email("anna.keller7@example.com") == "a***@example.com"
    assert mask_email("not-an-email") == "***"


def test_phone_keeps_only_last_two_digits() -> None:
    assert mask_phone("+49 151 2345 6789") == "*** 89"
    assert mask_phone("12") == "***"


def test_text_keeps_a_prefix() -> None:
    assert mask_text("Lindenstraße 12") == "L***"
    assert mask_text("10115", keep=2) == "10***"
