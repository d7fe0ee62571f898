"""The service's one error boundary: which HTTP status each engine error is, and the one place that
turns an endpoint's exception into a response (the body from `service.limits.error_body`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

from scoring.errors import ValidationError
from service.limits import error_body
from service.responses import validation_error_body

# a bentoml.* name: bentoml serve drops records of other loggers below WARNING
logger = logging.getLogger("bentoml.service.explained_model")

# Engine errors a caller caused, and their status; every other exception is the server's (500).
CLIENT_ERRORS: tuple[tuple[type[Exception], int], ...] = ((ValidationError, 400),)
# numpy scalars as numbers, and non-string keys as strings, as json.dumps writes them
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
INTERNAL_ERROR = "internal error: the server could not answer this request; details are in its log"


def status_of(error: BaseException) -> int:
    for kind, status in CLIENT_ERRORS:
        if isinstance(error, kind):
            return status
    return 500


def error_response(error: Exception, route: str) -> JSONResponse:
    """The response to an endpoint's exception: a client error names its row and field; anything
    else is logged with its traceback and answered with a generic 500 body."""
    status = status_of(error)
    if status < 500 and isinstance(error, ValidationError):
        return JSONResponse(validation_error_body(error), status_code=status)
    logger.error("%s failed", route, exc_info=error)
    return JSONResponse(error_body(INTERNAL_ERROR), status_code=500)


def json_response(body: dict[str, Any]) -> Response:
    """A 200 with `body` as JSON, encoded by orjson: the same document as `json.dumps` (floats
    written shortest-round-trip, so each parses back to the same bits) at about a twentieth of
    its cost, which on a 32-row answer is more than the rows' explanation. Bodies are finite
    (`service.finite`)."""
    return Response(orjson.dumps(body, option=JSON_OPTIONS), media_type="application/json")


async def answered(route: str, body: Awaitable[dict[str, Any]]) -> Response:
    """The endpoint's JSON body, or the error response for what it raised."""
    try:
        return json_response(await body)
    except Exception as error:
        return error_response(error, route)
