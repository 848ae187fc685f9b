"""Account commands, as the operator: `company` (and its Cloud Tokens) and `user`."""

from __future__ import annotations

from typing import Annotated

import typer

from kb_service.cli._common import emit, operator_services, read_password, settings
from kb_service.errors import NotFound

CompanyRef = Annotated[str, typer.Option("--company", help="Company id or name.")]
Email = Annotated[str, typer.Option("--email", help="The user's email.")]


def register(app: typer.Typer) -> None:
    company = typer.Typer(help="Companies and Cloud Tokens.", no_args_is_help=True)
    company.command("create", help="Create a company.")(company_create)
    company.command("add-tokens", help="Record a token purchase.")(company_add_tokens)
    app.add_typer(company, name="company")
    user = typer.Typer(help="Users of the control plane.", no_args_is_help=True)
    user.command("create", help="Create a user and print a personal access token (shown once).")(user_create)
    user.command("set-password", help="Set a user's portal password, read from stdin (first line).")(
        user_set_password
    )
    app.add_typer(user, name="user")


def company_create(
    name: Annotated[str, typer.Option("--name", help="The company's name.")],
    cloud_tokens: Annotated[int, typer.Option("--cloud-tokens", help="Tokens bought at once.")] = 0,
    price_list_year: Annotated[int | None, typer.Option("--price-list-year")] = None,
    enterprise_subscriptions: Annotated[int, typer.Option("--enterprise-subscriptions")] = 1,
    accounts: Annotated[int, typer.Option("--accounts")] = 1,
) -> int:
    with operator_services(settings()) as services:
        company = services.companies.create(
            name,
            price_list_year=price_list_year,
            enterprise_subscriptions=enterprise_subscriptions,
            accounts=accounts,
            cloud_tokens=cloud_tokens,
        )
        emit({"company_id": company.id, "name": company.name, "cloud_tokens": cloud_tokens})
    return 0


def company_add_tokens(
    company: CompanyRef, tokens: Annotated[int, typer.Option("--tokens", help="Tokens bought.")]
) -> int:
    with operator_services(settings()) as services:
        found = services.companies.find(company)
        if found is None:
            raise NotFound(f"Company {company} not found.")
        balance = services.companies.add_tokens(found.id, tokens)
        emit({"company_id": found.id, "total": balance.total, "available": balance.available})
    return 0


def user_create(
    email: Email,
    company: Annotated[str, typer.Option("--company", help="Company id or name; created if new.")],
    name: Annotated[str, typer.Option("--name", help="The user's name.")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="A company admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a portal password from stdin (first line).")
    ] = False,
) -> int:
    with operator_services(settings()) as services:
        found = services.companies.find(company) or services.companies.create(company)
        user = services.users.create(found.id, email, name=name, is_admin=admin)
        if password_stdin:
            services.users.set_password(user.id, read_password())
        issued = services.users.issue_token(user.id, "created by kb-service user create")
        emit(
            {
                "user_id": user.id,
                "email": user.email,
                "company_id": found.id,
                "is_admin": user.is_admin,
                "token_id": issued.token.id,
                "token": issued.secret,
            }
        )
    return 0


def user_set_password(email: Email) -> int:
    password = read_password()
    with operator_services(settings()) as services:
        user = services.users.by_email(email)
        if user is None:
            raise NotFound(f"No user {email}.")
        services.users.set_password(user.id, password)
        emit({"user_id": user.id, "email": user.email, "password_set": True})
    return 0
