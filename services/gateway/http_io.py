"""Reading request bodies in the order of §10 (size → content type → JSON → content) and writing
JSON and problem+json answers.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.http_checks import (
    check_body_size,
    check_content_length,
    check_content_type,
)
from services.gateway.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    malformed,
    render_problem,
    unprocessable,
)

M = TypeVar("M", bound=BaseModel)
JSON_TYPES = frozenset({"application/json"})


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it is known to exceed `limit`."""
    check_content_length(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        check_body_size(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, model: type[M], limit: int, *, empty_ok: bool = False) -> M:
    body = await read_body(request, limit)
    if not body.strip() and empty_ok:
        return model()
    check_content_type(request.headers.get("content-type"), JSON_TYPES)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise malformed(f"the body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise invalid(exc) from None


def invalid(exc: ValidationError) -> Problem:
    """422 listing what is wrong; never echoes the input (it may hold secret values)."""
    errors = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return unprocessable(f"{where}: {first['msg']}", errors=errors)


def json_response(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def problem_response(
    problem: Problem, instance: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        render_problem(problem, instance=instance),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
