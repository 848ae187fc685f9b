"""The rules a provisioning request must meet before anything is created (pure functions).

Each refusal names the request field it is about (`details["field"]`), so every surface can put the
message next to the right input.
"""

from __future__ import annotations

from kb_service.catalog import Offer, UnknownModelError, all_models, get_model
from kb_service.companies.models import Company
from kb_service.errors import Forbidden, InvalidInput
from kb_service.resources.models import ResourceType
from schemas.resources import ProvisionRequest

# Verbatim from the product documentation; shown when the platform account cannot be determined.
PLATFORM_ACCOUNT_WARNING = (
    "We couldn't retrieve your correct platform account, which is required to access available tokens "
    "and create resources. Please contact Mendix Support for assistance."
)
MIN_PRICE_LIST_YEAR = 2021


class PrerequisiteNotMet(Forbidden):
    code = "prerequisite_not_met"


def check_platform(company: Company) -> None:
    """The platform prerequisites: one account, one enterprise subscription, the FY21 list or newer."""
    if company.accounts != 1 or company.enterprise_subscriptions != 1:
        raise PrerequisiteNotMet(
            PLATFORM_ACCOUNT_WARNING,
            details={
                "accounts": company.accounts,
                "enterprise_subscriptions": company.enterprise_subscriptions,
            },
        )
    if company.price_list_year < MIN_PRICE_LIST_YEAR:
        raise PrerequisiteNotMet(
            f"Provisioning needs a subscription on the FY{MIN_PRICE_LIST_YEAR % 100} price list or "
            f"newer; yours is on FY{company.price_list_year % 100}.",
            details={"price_list_year": company.price_list_year},
        )


def cross_region_inference(request: ProvisionRequest) -> bool:
    """As asked, else on for text generation and off otherwise."""
    if request.cross_region_inference is not None:
        return request.cross_region_inference
    return ResourceType(request.type) == ResourceType.TEXT_GENERATION


def validate_models(request: ProvisionRequest, offer: Offer) -> tuple[list[str], str | None]:
    """(models, default model) of a request, or InvalidInput naming the field; `offer` is what this
    deployment can call (a model whose provider has no credentials is refused, naming the setting)."""
    if ResourceType(request.type) == ResourceType.KNOWLEDGE_BASE:
        if request.models or request.default_model:
            raise _invalid(
                "models", "A knowledge base has no models; it embeds with its embeddings resource."
            )
        return [], None
    kind = "text" if ResourceType(request.type) == ResourceType.TEXT_GENERATION else "embeddings"
    models = list(dict.fromkeys(request.models))
    if kind == "embeddings" and len(models) != 1:
        raise _invalid("models", "An embeddings resource has exactly one embeddings model.")
    if not models:
        raise _invalid("models", "Select at least one model.")
    for model_id in models:
        check_model(model_id, kind, request.region, offer)
    if kind == "embeddings":
        if request.default_model not in (None, models[0]):
            raise _invalid("default_model", "Only text-generation resources have a default model.")
        return models, None
    default_model = request.default_model or (models[0] if len(models) == 1 else None)
    if default_model not in models:
        raise _invalid("default_model", "The default model must be one of the selected models.")
    return models, default_model


def check_model(model_id: str, kind: str, region: str, offer: Offer) -> None:
    try:
        model = get_model(model_id)
    except UnknownModelError:
        known = ", ".join(m.id for m in all_models().values() if m.kind == kind and offer.offers(m))
        raise _invalid("models", f"Unknown model {model_id!r}; choose from {known}.") from None
    if model.kind != kind:
        raise _invalid("models", f"{model_id!r} is not a {kind} model.")
    if region not in model.regions:
        raise _invalid("models", f"{model.display_name} is not available in {region}.")
    setting = offer.setting_for(model)
    if setting is not None:
        raise InvalidInput(
            f"{model.display_name} is not available on this deployment: its provider is not "
            f"configured (set {setting}).",
            details={"field": "models", "setting": setting},
        )


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": field})
