"""Matching market pages: a producer's supply posts, a buyer's demand posts, their proposals with
the value breakdown, and the operator's clearing rounds.

Rules: every form carries the CSRF token (the pages router checks it); a post or proposal the
caller may not see is a 404 like a missing page; each route makes one call into the matching
domain, no SQL here. The post form's location picker is a vendored Leaflet map driven by a
static script (no inline script under the CSP); its tiles come from CHOSO_MAP_TILES_URL, whose
origin these pages allow for images; without tiles or scripts the latitude/longitude inputs work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from choso.errors import DomainError, PermissionDenied
from choso.i18n import N_
from choso.settings import get_settings
from market import catalog
from market.models import Role, User
from matching import posts, proposals, rounds, texts
from matching.models import MarketPost, RoundTrigger, Side
from matching.posts import PROVINCE_CENTRE, PostIn, PostUpdate
from matching.schemas import ExplanationOut, QuoteOut
from web.actors import actor_of
from web.deps import DB, ObjectId, page_role, page_user
from web.pages.common import form_errors_from, form_text, render

router = APIRouter(prefix="/matching")
Viewer = Annotated[User, Depends(page_user)]
Trader = Annotated[User, Depends(page_role(Role.PRODUCER, Role.BUYER, Role.OPERATOR))]
Poster = Annotated[User, Depends(page_role(Role.PRODUCER, Role.BUYER))]
Operator = Annotated[User, Depends(page_role(Role.OPERATOR))]

FIELDS = (
    "title",
    "category",
    "product_id",
    "grade",
    "quantity",
    "unit",
    "limit_price_vnd",
    "window_from",
    "window_to",
    "latitude",
    "longitude",
    "max_distance_km",
)
INTEGERS = ("product_id", "grade", "quantity", "limit_price_vnd")
NUMBERS = ("latitude", "longitude", "max_distance_km")
ACTION_LABELS = {"accept": N_("Accept"), "decline": N_("Decline")}
REASON_LABELS = {"no_counterparty": N_("No compatible counterparty"), "priced_out": N_("Priced out")}


def map_policy() -> str:
    """The pages' CSP, with the tile server's origin allowed for images (only)."""
    from web.app import CONTENT_SECURITY_POLICY  # here: web.app imports the pages

    origin = tiles_origin(get_settings().map_tiles_url)
    if not origin:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")


def tiles_origin(template: str) -> str:
    """``https://{s}.tile.example.org/{z}/{x}/{y}.png`` → ``https://*.tile.example.org`` (pure)."""
    parts = urlsplit(template.replace("{s}", "subdomain"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.netloc.replace("subdomain", "*")
    return f"{parts.scheme}://{host}"


def _labels() -> dict[str, Any]:
    return {
        "categories": catalog.CATEGORIES,
        "statuses": texts.STATUS_LABELS,
        "side_labels": texts.SIDE_LABELS,
        "action_labels": ACTION_LABELS,
        "reason_labels": REASON_LABELS,
    }


# --- the market page ----------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def market_page(request: Request, session: DB, user: Trader) -> Response:
    if user.role == Role.OPERATOR:
        return RedirectResponse("/matching/rounds", status_code=303)
    mine, _ = posts.list_posts_for(session, user, limit=100)
    offers, _ = proposals.list_proposals_for(session, user, limit=100)
    context = {"posts": mine, "proposals": offers, "side": posts.side_for(user), **_labels()}
    return render(request, "matching/index.html", context)


# --- posts --------------------------------------------------------------------------------------


def _form_values(form: FormData) -> dict[str, str]:
    return {name: form_text(form, name, 200) for name in FIELDS}


def _typed(values: dict[str, str]) -> dict[str, Any]:
    """Form text as the JSON the API takes: numbers as numbers, blanks left out; text that is no
    number stays text, so validation names the field."""
    data: dict[str, Any] = {}
    for name, text in values.items():
        if not text:
            continue
        if name in INTEGERS and text.lstrip("-").isdigit():
            data[name] = int(text)
        elif name in NUMBERS:
            try:
                data[name] = float(text.replace(",", "."))
            except ValueError:
                data[name] = text
        else:
            data[name] = text
    return data


def _form_page(
    request: Request,
    session: Session,
    user: User,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    post: MarketPost | None = None,
    status: int = 200,
) -> HTMLResponse:
    side = post.side if post else posts.side_for(user)
    listings = []
    if side == Side.SUPPLY and post is None:
        listings, _ = catalog.list_products(session, producer_id=user.organisation_id, limit=100)
    settings = get_settings()
    context = {
        "post": post,
        "side": side,
        "values": values,
        "errors": errors,
        "listings": [product for product, _org in listings],
        "grades": posts.GRADES,
        "tiles": settings.map_tiles_url,
        "attribution": settings.map_tiles_attribution,
        "centre": PROVINCE_CENTRE,
        **_labels(),
    }
    template = "matching/post_form.html"
    return render(
        request, template, context, status=status, headers={"Content-Security-Policy": map_policy()}
    )


@router.get("/posts/new", response_class=HTMLResponse)
def new_post_page(request: Request, session: DB, user: Poster) -> HTMLResponse:
    today = posts.local_today()
    values = {
        "grade": "2",
        "unit": "kg",
        "window_from": str(today),
        "window_to": str(today + timedelta(days=7)),
    }
    return _form_page(request, session, user, values=values, errors={})


@router.post("/posts", response_class=HTMLResponse)
async def create_post(request: Request, session: DB, user: Poster) -> Response:
    values = _form_values(await request.form())
    try:
        data = PostIn.model_validate({"side": posts.side_for(user), **_typed(values)})
        created = posts.create_post(session, user, data, actor=actor_of(request, user))
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, PermissionDenied):
            raise
        session.rollback()
        code = exc.status_code if isinstance(exc, DomainError) else 422
        return _form_page(request, session, user, values=values, errors=form_errors_from(exc), status=code)
    return RedirectResponse(f"/matching/posts/{created.id}", status_code=303)


def _post_page(
    session: Session, request: Request, user: User, post_id: int, error: str | None = None, status: int = 200
) -> HTMLResponse:
    post = posts.get_post_for(session, user, post_id)
    explanation = rounds.explanation_for(session, post)
    offers, _ = proposals.list_proposals_for(session, user, post_id=post_id, limit=100)
    context = {
        "post": post,
        "owner": posts.is_owner(user, post),
        "quote": QuoteOut.of(post, rounds.quote_for(session, post)),
        "explanation": ExplanationOut.of(post, explanation) if explanation else None,
        "proposals": offers,
        "error": error,
        **_labels(),
    }
    return render(request, "matching/post.html", context, status=status)


@router.get("/posts/{post_id}", response_class=HTMLResponse)
def post_page(post_id: ObjectId, request: Request, session: DB, user: Viewer) -> HTMLResponse:
    return _post_page(session, request, user, post_id)


def _current_values(post: MarketPost) -> dict[str, str]:
    values = {name: getattr(post, name, None) for name in FIELDS}
    return {name: "" if value is None else str(value) for name, value in values.items()}


@router.get("/posts/{post_id}/edit", response_class=HTMLResponse)
def edit_post_page(post_id: ObjectId, request: Request, session: DB, user: Poster) -> HTMLResponse:
    post = posts.get_post_for(session, user, post_id)
    return _form_page(request, session, user, values=_current_values(post), errors={}, post=post)


@router.post("/posts/{post_id}/edit", response_class=HTMLResponse)
async def edit_post(post_id: ObjectId, request: Request, session: DB, user: Poster) -> Response:
    values = _form_values(await request.form())
    changes = {k: v for k, v in _typed(values).items() if k not in ("category", "product_id")}
    try:
        posts.update_post(
            session, user, post_id, PostUpdate.model_validate(changes), actor=actor_of(request, user)
        )
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status_code in (403, 404):
            raise
        session.rollback()
        post = posts.get_post_for(session, user, post_id)
        code = exc.status_code if isinstance(exc, DomainError) else 422
        return _form_page(
            request, session, user, values=values, errors=form_errors_from(exc), post=post, status=code
        )
    return RedirectResponse(f"/matching/posts/{post_id}", status_code=303)


@router.post("/posts/{post_id}/withdraw", response_class=HTMLResponse)
def withdraw_post(post_id: ObjectId, request: Request, session: DB, user: Poster) -> Response:
    posts.withdraw_post(session, user, post_id, actor=actor_of(request, user))
    return RedirectResponse(f"/matching/posts/{post_id}", status_code=303)


# --- proposals ----------------------------------------------------------------------------------


def _proposal_page(
    session: Session,
    request: Request,
    user: User,
    proposal_id: int,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = proposals.get_proposal_for(session, user, proposal_id)
    context = {
        "view": view,
        "proposal": view.proposal,
        "breakdown": proposals.breakdown(view.proposal),
        "error": error,
        **_labels(),
    }
    return render(request, "matching/proposal.html", context, status=status)


@router.get("/proposals/{proposal_id}", response_class=HTMLResponse)
def proposal_page(proposal_id: ObjectId, request: Request, session: DB, user: Viewer) -> HTMLResponse:
    return _proposal_page(session, request, user, proposal_id)


@router.post("/proposals/{proposal_id}/{action}", response_class=HTMLResponse)
def answer_proposal(
    proposal_id: ObjectId, action: str, request: Request, session: DB, user: Viewer
) -> Response:
    use_case = {"accept": proposals.accept, "decline": proposals.decline}.get(action)
    if use_case is None:
        return _proposal_page(session, request, user, proposal_id, status=404)
    try:
        use_case(session, user, proposal_id, actor=actor_of(request, user))
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        return _proposal_page(session, request, user, proposal_id, exc.translated(), exc.status_code)
    return RedirectResponse(f"/matching/proposals/{proposal_id}", status_code=303)


# --- operators: clearing rounds -----------------------------------------------------------------


@router.get("/rounds", response_class=HTMLResponse)
def rounds_page(request: Request, session: DB, user: Operator) -> HTMLResponse:
    rows, total = rounds.list_rounds(session, user, limit=50)
    return render(request, "matching/rounds.html", {"rounds": rows, "total": total, **_labels()})


@router.post("/rounds", response_class=HTMLResponse)
def run_round(request: Request, session: DB, user: Operator) -> Response:
    record = rounds.run_round(session, trigger=RoundTrigger.OPERATOR, by=user, actor=actor_of(request, user))
    return RedirectResponse(f"/matching/rounds/{record.id if record else ''}", status_code=303)


@router.get("/rounds/{round_id}", response_class=HTMLResponse)
def round_page(round_id: ObjectId, request: Request, session: DB, user: Operator) -> HTMLResponse:
    record = rounds.get_round(session, user, round_id)
    context = {"round": record, "summary": rounds.round_summary(session, record), **_labels()}
    return render(request, "matching/round.html", context)
