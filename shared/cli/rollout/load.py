"""Synthetic app users for a local rollout: each has a user id, a platform and an app
version, and calls its screens through the gateway again and again. Every answer's
``X-Served-By-Version`` is recorded per user, so a run can show (and a test can assert)
that no user went back from canary to stable.

Each user belongs to one worker thread, so a user's answers are recorded in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from shared.cli.rollout.gateway import VERSION_HEADER

#: (platform, app version, screens) of the synthetic users, cycled over user ids.
DEFAULT_PROFILES: tuple[tuple[str | None, str | None, tuple[str, ...]], ...] = (
    ("android", "4.2.3", ("/v1/home", "/v1/products/42")),
    ("ios", "4.3.0", ("/v1/home", "/v1/products/42")),
    ("android", "3.9.1", ("/v1/me", "/v1/products/42")),
    ("web", "5.0.0", ("/v1/products/42", "/v1/home")),
    ("ios", "3.8.2", ("/v1/me", "/v1/products/42")),
    (None, None, ("/v1/products/42",)),
)


@dataclass(frozen=True, slots=True)
class AppUser:
    user_id: int
    platform: str | None
    version: str | None
    paths: tuple[str, ...]

    def headers(self) -> dict[str, str]:
        headers = {"X-User-Id": str(self.user_id)}
        if self.platform is not None:
            headers["X-Client-Platform"] = self.platform
        if self.version is not None:
            headers["X-App-Version"] = self.version
        return headers


def app_users(
    count: int,
    profiles: Sequence[tuple[str | None, str | None, tuple[str, ...]]] = DEFAULT_PROFILES,
    first_id: int = 1,
) -> list[AppUser]:
    return [AppUser(first_id + i, *profiles[i % len(profiles)]) for i in range(count)]


@dataclass(slots=True)
class Answer:
    user: AppUser
    path: str
    status: int  # 0: no answer (connection error)
    served_by: str


@dataclass(slots=True)
class AppUserLoad:
    """``users`` calling ``url`` from ``workers`` threads until stopped (a context manager)."""

    url: str
    users: Sequence[AppUser]
    workers: int = 4
    #: Pause between one worker's requests (0: as fast as answers come).
    pause_seconds: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self, mine: Sequence[AppUser]) -> None:
        turn = 0
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                user = mine[turn % len(mine)]
                path = user.paths[(turn // len(mine)) % len(user.paths)]
                turn += 1
                try:
                    response = client.get(path, headers=user.headers())
                    self.answers.append(
                        Answer(user, path, response.status_code, response.headers.get(VERSION_HEADER, ""))
                    )
                except httpx.HTTPError:
                    self.answers.append(Answer(user, path, 0, ""))
                if self.pause_seconds:
                    time.sleep(self.pause_seconds)

    def __enter__(self) -> AppUserLoad:
        shares = [self.users[i :: self.workers] for i in range(self.workers)]
        self._threads = [threading.Thread(target=self._run, args=(mine,), daemon=True) for mine in shares if mine]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def failures(self) -> list[Answer]:
        return [answer for answer in list(self.answers) if answer.status == 0 or answer.status >= 500]

    def versions_by_user(self) -> dict[int, list[str]]:
        """Each user's serving versions in order, repeats collapsed."""
        sequences: dict[int, list[str]] = {}
        for answer in list(self.answers):
            seen = sequences.setdefault(answer.user.user_id, [])
            if not seen or seen[-1] != answer.served_by:
                seen.append(answer.served_by)
        return sequences


__all__ = ["DEFAULT_PROFILES", "Answer", "AppUser", "AppUserLoad", "app_users"]
