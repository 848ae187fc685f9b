from __future__ import annotations

from datetime import datetime

from schemas._base import Schema


class Subscription(Schema):
    price_list_year: int
    enterprise_platform_subscriptions: int
    accounts: int


class CloudTokenBalance(Schema):
    total: int
    consumed: int
    available: int


class CompanyOut(Schema):
    id: str
    name: str
    subscription: Subscription
    cloud_tokens: CloudTokenBalance
    external_invitations_enabled: bool


class LedgerEntry(Schema):
    occurred_at: datetime
    resource_id: str | None
    tokens: int
    remaining: int
    reason: str


class CloudTokensOut(CloudTokenBalance):
    transactions: list[LedgerEntry]


class CompanyUpdate(Schema):
    external_invitations_enabled: bool
