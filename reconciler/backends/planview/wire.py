"""Reading one answer off the wire within bounds of size and time.

The client's timeout only bounds silence: a server that streams without end, or
dribbles a byte just before each timeout, is never silent. So every answer is read
in chunks, with a cap on its size and on the time it may take in all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

# The largest page of any listing (1,000 provisionings, 500 users) is well under 1 MiB:
# an answer 16 times larger is not a page, and must not fill the memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# One attempt's answer must be complete within this many request timeouts.
ANSWER_TIMEOUTS = 2


class AnswerTooLarge(Exception):
    """The server sent more than MAX_ANSWER_BYTES; reading on cannot help."""


def answer_limit_seconds(timeout: float) -> float:
    return timeout * ANSWER_TIMEOUTS


def exchange(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    limit_seconds: float,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[httpx.Response, bytes]:
    """Send one request; return the response and its whole (decoded) body.

    Raises httpx.ReadTimeout when the answer takes longer than `limit_seconds` from
    the send (callers treat it like any other lost answer), and AnswerTooLarge.
    """
    started = time.monotonic()
    with client.stream(
        method, url, params=params, json=json_body, data=data, headers=headers, auth=auth
    ) as response:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise AnswerTooLarge(
                    f"the answer is larger than {MAX_ANSWER_BYTES // 2**20} MiB; no answer "
                    "of this API comes near that, so it was not read further"
                )
            if time.monotonic() - started > limit_seconds:
                raise httpx.ReadTimeout(
                    f"the answer was still arriving after {limit_seconds:g}s",
                    request=response.request,
                )
            chunks.append(chunk)
    return response, b"".join(chunks)
