from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_service.users.models import PersonalAccessToken, User


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
