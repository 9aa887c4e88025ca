"""The JSON API, mounted at /api/v1."""

from fastapi import APIRouter

from web.api import account, auth, catalog, operator, places

router = APIRouter()
for module in (auth, account, places, catalog, operator):
    router.include_router(module.router)
