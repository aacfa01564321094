"""The composition root: `create_app()` assembles settings, database, templates and controllers."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.logging import LoggingConfig
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app import i18n
from app.audit_pages import ENTITIES as APP_AUDIT_ENTITIES
from app.audit_pages import OfficerAudit, history_url
from app.auth.controllers import AuthController, PasswordResetController
from app.auth.guards import UserMiddleware
from app.auth.services import LoginThrottle
from app.db import import_models, sqlalchemy_config
from app.geography.controllers import GeographyApi, OfficerGeographyController
from app.home import HomeController, base_figures
from app.i18n import lazy
from app.settings import ROOT, Settings, get_settings
from app.web import (
    EXCEPTION_HANDLERS,
    LocaleMiddleware,
    PublicPageStore,
    RequestLogMiddleware,
    SecurityHeaders,
    cache_anonymous_only,
    freeze_startup_heap,
    ids_in_range,
    page_address,
    pop_flashes,
    private_pages_not_kept,
    public_cache_key,
)
from donations import delivery_queries
from donations.allocation_controllers import AllocationController
from donations.audit_entities import ENTITIES as DONATION_AUDIT_ENTITIES
from donations.bank_controllers import OfficerPayments
from donations.controllers import PledgeController, StripeWebhook
from donations.delivery_controllers import ROUTE_HANDLERS as DELIVERY_ROUTES
from donations.providers import build_registry
from donations.public_controllers import ROUTE_HANDLERS as DONATION_PUBLIC_ROUTES
from needs.audit_entities import ENTITIES as NEED_AUDIT_ENTITIES
from needs.controllers import LibrarianNeeds, NeedsApi, NeedsBoard, OfficerNeeds
from needs.services import open_needs_count
from recognition.audit_entities import ENTITIES as RECOGNITION_AUDIT_ENTITIES
from recognition.controllers import ROUTE_HANDLERS as RECOGNITION_ROUTES

# Links each domain adds to the site's navigation and to the officer's dashboard: (url, msgid).
NAV_LINKS: list[dict[str, str]] = [
    {"url": "/needs", "label": lazy("Needs")},
    {"url": "/give", "label": lazy("Give")},
    {"url": "/ledger", "label": lazy("Public ledger")},
    {"url": "/honor-rolls", "label": lazy("Honor rolls")},
]
OFFICER_LINKS: list[dict[str, str]] = [
    {"url": "/officer/needs", "label": lazy("Needs awaiting review")},
    {"url": "/officer/item-kinds", "label": lazy("Item catalogue")},
    {"url": "/officer/pledges", "label": lazy("Pledges awaiting payment or delivery")},
    {"url": "/officer/statements", "label": lazy("Bank statements")},
    {"url": "/officer/matching", "label": lazy("Fair allocation of the pool")},
    {"url": "/officer/deliveries", "label": lazy("Deliveries and shortfalls")},
    {"url": "/officer/recognition", "label": lazy("Recognition: rules, nominations, honor rolls")},
    {"url": "/officer/audit", "label": lazy("Audit trail: who changed what, when and why")},
]
# How the audit pages name each domain's entities and gather one's history (a later domain may
# widen an earlier one's: the donations domain adds a need's allocations and receipts).
AUDIT_ENTITIES = {**APP_AUDIT_ENTITIES, **NEED_AUDIT_ENTITIES, **DONATION_AUDIT_ENTITIES, **RECOGNITION_AUDIT_ENTITIES}

TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"


def _template_engine(engine: JinjaTemplateEngine, *, reload: bool = True) -> None:
    env = engine.engine
    env.auto_reload = reload  # outside development, no file check on every render
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: i18n.translations(i18n.get_locale()).gettext(s),
        ngettext=lambda s, p, n: i18n.translations(i18n.get_locale()).ngettext(s, p, n),
        newstyle=True,
    )
    env.filters.update(
        vnd=i18n.format_vnd,
        number=i18n.format_number,
        percent=i18n.format_percent,
        date=i18n.format_date,
        datetime=i18n.format_datetime,
        document_date=i18n.format_document_date,
    )
    env.globals.update(
        get_locale=i18n.get_locale,
        locales=i18n.LOCALES,
        pop_flashes=pop_flashes,
        page_address=page_address,
        nav_links=NAV_LINKS,
        officer_links=OFFICER_LINKS,
        history_url=history_url,
    )
    env.trim_blocks = True
    env.lstrip_blocks = True


def create_app(settings: Settings | None = None, **overrides: Any) -> Litestar:
    settings = settings or get_settings()
    import_models()
    db_config = sqlalchemy_config(settings.database_url, echo=settings.log_sql)
    secret = settings.resolved_secret()
    session_key = hashlib.sha256(f"session:{secret}".encode()).digest()
    csrf_secret = hashlib.sha256(f"csrf:{secret}".encode()).hexdigest()
    session_config = CookieBackendConfig(
        secret=session_key,
        key="glg_session",
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
        max_age=14 * 24 * 3600,
    )
    logging_config = LoggingConfig(
        root={"level": "INFO", "handlers": ["queue_listener"]},
        formatters={"standard": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        log_exceptions="always",
        disable_stack_trace={404, 401, 403, 409, 422, 429},
    )
    app = Litestar(
        route_handlers=[
            HomeController,
            AuthController,
            PasswordResetController,
            OfficerGeographyController,
            OfficerAudit,
            GeographyApi,
            NeedsBoard,
            LibrarianNeeds,
            OfficerNeeds,
            NeedsApi,
            PledgeController,
            StripeWebhook,
            *DELIVERY_ROUTES,
            *DONATION_PUBLIC_ROUTES,
            OfficerPayments,
            AllocationController,
            *RECOGNITION_ROUTES,
            create_static_files_router(
                path="/static",
                directories=[STATIC],
                send_as_attachment=False,
                cache_control=None,
                name="static",
            ),
            *overrides.pop("route_handlers", []),
        ],
        plugins=[SQLAlchemyPlugin(config=db_config), HTMXPlugin()],
        before_request=ids_in_range,
        before_send=[SecurityHeaders(settings), private_pages_not_kept],
        middleware=[
            RequestLogMiddleware(),
            session_config.middleware,
            LocaleMiddleware(),
            UserMiddleware(db_config),
        ],
        # Pages, fragments, CSS and JSON go gzipped to clients that accept it (slow mountain links);
        # PDFs, spreadsheets and photos are compressed formats already.
        compression_config=CompressionConfig(
            backend="gzip", gzip_compress_level=6, exclude=[r"\.pdf$", r"\.xlsx$", r"/photo$"]
        ),
        csrf_config=CSRFConfig(
            secret=csrf_secret,
            cookie_secure=settings.is_production,
            cookie_samesite="lax",
            exclude=["/api/v1/webhooks"],
        ),
        template_config=TemplateConfig(
            directory=TEMPLATES,
            engine=JinjaTemplateEngine,
            engine_callback=partial(_template_engine, reload=settings.environment == "development"),
        ),
        openapi_config=OpenAPIConfig(
            title="Grassroots Library Giving API",
            version="1.0.0",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        stores={"login_throttle": LoginThrottle(), "response_cache": PublicPageStore()},
        response_cache_config=ResponseCacheConfig(
            default_expiration=settings.public_cache_seconds or 1,
            key_builder=public_cache_key,
            cache_response_filter=cache_anonymous_only,
        ),
        state=State(
            {
                "settings": settings,
                "db_config": db_config,
                "figure_providers": [base_figures, open_needs_count],
                # What waits for a librarian, on their first page (each later domain adds its own).
                "librarian_tasks": [delivery_queries.librarian_tasks],
                "payment_providers": build_registry(settings),
                "audit_entities": AUDIT_ENTITIES,
            }
        ),
        logging_config=logging_config,
        on_startup=[freeze_startup_heap],
        debug=settings.environment == "development" and overrides.pop("debug", False),
        **overrides,
    )
    return app

