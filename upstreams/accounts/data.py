"""The accounts service's seeded users: 1,000 of them, each computed from its id alone.

``user(7)`` seeds ``random.Random("accounts:7")`` and builds that one profile, so start-up
is instant and every region and run agrees. Names, addresses and phone numbers follow the
conventions of the user's country; every email is unique (it carries the id).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from functools import cache
from typing import Any, NamedTuple

__all__ = ["USER_COUNT", "user", "user_exists"]

USER_COUNT = 1000


class _Country(NamedTuple):
    code: str
    region: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    #: (city, postal code template); "#" is a random digit, "@" a random letter
    cities: tuple[tuple[str, str], ...]
    #: (street names, "{street} {number}" or "{number} {street}")
    streets: tuple[str, ...]
    street_format: str
    #: phone template: "#" is a random digit, "%" one of 2-9
    phone: str


_COUNTRIES = (
    _Country(
        "DE",
        "eu",
        ("Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lena", "Paul"),
        ("Keller", "Müller", "Schmidt", "Wagner", "Becker", "Hoffmann", "Schäfer"),
        (("Berlin", "101##"), ("Hamburg", "203##"), ("München", "803##")),
        ("Lindenstraße", "Hauptstraße", "Gartenweg", "Bahnhofstraße"),
        "{street} {number}",
        "+49 151 #### ####",
    ),
    _Country(
        "FR",
        "eu",
        ("Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon"),
        ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent"),
        (("Paris", "750##"), ("Lyon", "6900#"), ("Bordeaux", "3300#")),
        ("rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire"),
        "{number} {street}",
        "+33 6 ## ## ## ##",
    ),
    _Country(
        "NL",
        "eu",
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn"),
        ("de Jong", "Jansen", "de Vries", "Bakker", "Visser", "Smit"),
        (("Amsterdam", "10## @@"), ("Utrecht", "35## @@"), ("Rotterdam", "30## @@")),
        ("Keizersgracht", "Oudegracht", "Kerkstraat"),
        "{street} {number}",
        "+31 6 #### ####",
    ),
    _Country(
        "ES",
        "eu",
        ("Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Leo", "Paula"),
        ("García", "Fernández", "López", "Martínez", "Sánchez", "Romero"),
        (("Madrid", "280##"), ("Barcelona", "080##"), ("Valencia", "460##")),
        ("Calle Mayor", "Gran Vía", "Calle de Alcalá"),
        "{street} {number}",
        "+34 6## ### ###",
    ),
    _Country(
        "US",
        "us",
        ("Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Mia", "James"),
        ("Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis"),
        (("New York", "100##"), ("Chicago", "606##"), ("San Francisco", "941##")),
        ("Main Street", "Oak Avenue", "Maple Drive", "Park Place"),
        "{number} {street}",
        "+1 %## 555 01##",
    ),
    _Country(
        "JP",
        "apac",
        ("Haruto", "Yui", "Sota", "Hina", "Ren", "Sakura", "Yuto"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"),
        (("Tokyo", "1##-####"), ("Osaka", "5##-####"), ("Kyoto", "60#-####")),
        ("Chuo-dori", "Meiji-dori", "Omotesando"),
        "{number} {street}",
        "+81 90 #### ####",
    ),
    _Country(
        "AU",
        "apac",
        ("Charlotte", "Oliver", "Amelia", "Jack", "Isla", "William"),
        ("Wilson", "Taylor", "Anderson", "Thompson", "White", "Harris"),
        (("Sydney", "20##"), ("Melbourne", "30##"), ("Brisbane", "40##")),
        ("George Street", "Collins Street", "Queen Street"),
        "{number} {street}",
        "+61 4## ### ###",
    ),
)
# Most members are in Europe, then the US, then Asia-Pacific.
_COUNTRY_WEIGHTS = (25, 10, 8, 7, 30, 12, 8)
_BIRTH_DATES = (date(1950, 1, 1), date(2006, 12, 31))
_FIRST_MEMBER_SINCE = date(2012, 1, 1)
_LAST_MEMBER_SINCE = date(2026, 10, 31)
_PLACEHOLDERS: dict[str, Callable[[random.Random], str]] = {
    "#": lambda rng: str(rng.randrange(10)),
    "%": lambda rng: str(rng.randint(2, 9)),
    "@": lambda rng: rng.choice("ABCDEFGHJKLMNPRSTVWXZ"),
}
_ADULT_AGE_DAYS = 18 * 365
_ASCII_SPELLINGS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def user_exists(user_id: int) -> bool:
    """Whether accounts has user ``user_id`` (ids 1..1000)."""
    return 1 <= user_id <= USER_COUNT


def _fill(template: str, rng: random.Random) -> str:
    return "".join(_PLACEHOLDERS[char](rng) if char in _PLACEHOLDERS else char for char in template)


def _date_between(bounds: tuple[date, date], rng: random.Random) -> date:
    start, end = bounds
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _email_local_part(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name.lower().translate(_ASCII_SPELLINGS))
    letters = "".join(c for c in ascii_name if c.isascii() and (c.isalnum() or c == " "))
    return ".".join(letters.split())


@cache
def user(user_id: int) -> dict[str, Any]:
    """User ``user_id``'s profile as accounts answers it; the caller must not mutate it.

    Raises ``KeyError`` for an id outside 1..1000 (check ``user_exists``).
    """
    if not user_exists(user_id):
        raise KeyError(f"no user {user_id}; users are 1..{USER_COUNT}")
    rng = random.Random(f"accounts:{user_id}")
    country = rng.choices(_COUNTRIES, weights=_COUNTRY_WEIGHTS)[0]
    name = f"{rng.choice(country.first_names)} {rng.choice(country.last_names)}"
    city, postal_template = rng.choice(country.cities)
    street = country.street_format.format(street=rng.choice(country.streets), number=rng.randint(1, 180))
    birth_date = _date_between(_BIRTH_DATES, rng)
    # Members sign up as adults.
    first_sign_up = max(_FIRST_MEMBER_SINCE, birth_date + timedelta(days=_ADULT_AGE_DAYS))
    member_since = _date_between((first_sign_up, _LAST_MEMBER_SINCE), rng)
    return {
        "id": user_id,
        "name": name,
        # The id makes each address unique, as a real sign-up would enforce.
        "email": f"{_email_local_part(name)}{user_id}@example.com",
        "phone": _fill(country.phone, rng),
        "birth_date": birth_date.isoformat(),
        "address": {
            "street": street,
            "city": city,
            "postal_code": _fill(postal_template, rng),
            "country": country.code,
        },
        "home_region": country.region,
        "member_since": member_since.isoformat(),
    }
