from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kb_service.users.models import PersonalAccessToken, SignInFailure, User


class UserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, user: User) -> User:
        self._session.add(user)
        self._session.flush()
        return user

    def get(self, user_id: str) -> User | None:
        return self._session.get(User, user_id)

    def get_by_email(self, email: str) -> User | None:
        return self._session.scalars(select(User).where(func.lower(User.email) == email.lower())).first()

    def add_token(self, token: PersonalAccessToken) -> PersonalAccessToken:
        self._session.add(token)
        self._session.flush()
        return token

    def get_token(self, token_id: str) -> PersonalAccessToken | None:
        return self._session.get(PersonalAccessToken, token_id)

    def tokens_of(self, user_id: str) -> list[PersonalAccessToken]:
        query = (
            select(PersonalAccessToken)
            .where(PersonalAccessToken.user_id == user_id)
            .order_by(PersonalAccessToken.created_at)
        )
        return list(self._session.scalars(query))

    def get_many(self, user_ids: set[str]) -> dict[str, User]:
        if not user_ids:
            return {}
        return {u.id: u for u in self._session.scalars(select(User).where(User.id.in_(user_ids)))}

    def existing_emails(self, emails: set[str]) -> set[str]:
        """Which of these (lower-case) emails have an account."""
        if not emails:
            return set()
        query = select(func.lower(User.email)).where(func.lower(User.email).in_(emails))
        return set(self._session.scalars(query))

    # --- sign-in failures (throttling) --------------------------------------------------------

    def nth_newest_failure(self, key: str, since: datetime, n: int) -> datetime | None:
        """When the n-th newest failure under `key` after `since` happened, or None."""
        query = (
            select(SignInFailure.failed_at)
            .where(SignInFailure.key == key, SignInFailure.failed_at > since)
            .order_by(SignInFailure.failed_at.desc())
            .offset(n - 1)
            .limit(1)
        )
        return self._session.scalar(query)

    def record_failures(self, keys: list[str], at: datetime, forget_before: datetime) -> None:
        self._session.execute(
            delete(SignInFailure).where(SignInFailure.key.in_(keys), SignInFailure.failed_at <= forget_before)
        )
        self._session.add_all(SignInFailure(key=key, failed_at=at) for key in keys)
        self._session.flush()

    def clear_failures(self, key: str) -> int:
        result = self._session.execute(delete(SignInFailure).where(SignInFailure.key == key))
        return int(getattr(result, "rowcount", 0) or 0)
