"""Account commands, as the operator: `company` (and its Cloud Tokens) and `user`."""

from __future__ import annotations

import argparse

from kb_service.cli._common import Commands, emit, operator_services, read_password
from kb_service.config import Settings
from kb_service.errors import NotFound


def add_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    _company_commands(sub, common)
    _user_commands(sub, common)


def _company_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    company = sub.add_parser("company", parents=[common], help="Companies and Cloud Tokens.")
    company_sub = company.add_subparsers(required=True, metavar="ACTION")
    company_create = company_sub.add_parser("create", parents=[common], help="Create a company.")
    company_create.add_argument("--name", required=True)
    company_create.add_argument("--cloud-tokens", type=int, default=0)
    company_create.add_argument("--price-list-year", type=int, default=None)
    company_create.add_argument("--enterprise-subscriptions", type=int, default=1)
    company_create.add_argument("--accounts", type=int, default=1)
    company_create.set_defaults(handler=_company_create)
    add_tokens = company_sub.add_parser("add-tokens", parents=[common], help="Record a token purchase.")
    add_tokens.add_argument("--company", required=True, help="Company id or name.")
    add_tokens.add_argument("--tokens", type=int, required=True)
    add_tokens.set_defaults(handler=_company_add_tokens)


def _user_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", parents=[common], help="Users of the control plane.")
    user_sub = user.add_subparsers(required=True, metavar="ACTION")
    user_create = user_sub.add_parser(
        "create", parents=[common], help="Create a user and print a personal access token (shown once)."
    )
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--company", required=True, help="Company id or name; created if new.")
    user_create.add_argument("--name", default="")
    user_create.add_argument("--admin", action="store_true", help="A company admin.")
    user_create.add_argument(
        "--password-stdin", action="store_true", help="Read a portal password from stdin (first line)."
    )
    user_create.set_defaults(handler=_user_create)
    set_password = user_sub.add_parser(
        "set-password", parents=[common], help="Set a user's portal password, read from stdin (first line)."
    )
    set_password.add_argument("--email", required=True)
    set_password.set_defaults(handler=_user_set_password)


def _company_create(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        company = services.companies.create(
            args.name,
            price_list_year=args.price_list_year,
            enterprise_subscriptions=args.enterprise_subscriptions,
            accounts=args.accounts,
            cloud_tokens=args.cloud_tokens,
        )
        emit({"company_id": company.id, "name": company.name, "cloud_tokens": args.cloud_tokens})
    return 0


def _company_add_tokens(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        company = services.companies.find(args.company)
        if company is None:
            raise NotFound(f"Company {args.company} not found.")
        balance = services.companies.add_tokens(company.id, args.tokens)
        emit({"company_id": company.id, "total": balance.total, "available": balance.available})
    return 0


def _user_create(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        company = services.companies.find(args.company) or services.companies.create(args.company)
        user = services.users.create(company.id, args.email, name=args.name, is_admin=args.admin)
        if args.password_stdin:
            services.users.set_password(user.id, read_password())
        issued = services.users.issue_token(user.id, "created by kb-service user create")
        emit(
            {
                "user_id": user.id,
                "email": user.email,
                "company_id": company.id,
                "is_admin": user.is_admin,
                "token_id": issued.token.id,
                "token": issued.secret,
            }
        )
    return 0


def _user_set_password(settings: Settings, args: argparse.Namespace) -> int:
    password = read_password()
    with operator_services(settings) as services:
        user = services.users.by_email(args.email)
        if user is None:
            raise NotFound(f"No user {args.email}.")
        services.users.set_password(user.id, password)
        emit({"user_id": user.id, "email": user.email, "password_set": True})
    return 0
