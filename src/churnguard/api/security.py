"""The API key that guards ``/admin/*`` and ``/feedback``.

The key comes from the environment (``CHURNGUARD_SERVING_API_KEY``) or a secret file
(``serving.api_key_file``, e.g. a mounted Kubernetes Secret), is read once at startup and is
compared in constant time. Without a key those routes are disabled (403), never open.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from churnguard.api.config import ServingConfig
from churnguard.errors import ConfigError

API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The service's API key.")


def resolve_api_key(config: ServingConfig) -> str | None:
    """The configured key, from the environment or the secret file; ``None`` when unset.

    Raises:
        ConfigError: the secret file cannot be read or is empty.
    """
    if config.api_key is not None and config.api_key.get_secret_value().strip():
        return config.api_key.get_secret_value().strip()
    if config.api_key_file is None:
        return None
    try:
        key = config.api_key_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"cannot read serving.api_key_file {config.api_key_file}: {exc.strerror}; fix the path or mount the secret"
        raise ConfigError(msg) from exc
    if not key:
        msg = f"serving.api_key_file {config.api_key_file} is empty: write the key into it"
        raise ConfigError(msg)
    return key


async def _require_api_key(request: Request, sent: Annotated[str | None, Depends(_header)]) -> None:
    expected: str | None = request.app.state.api_key
    if expected is None:
        raise HTTPException(
            status_code=403,
            detail="this route is disabled: no API key is configured; set CHURNGUARD_SERVING_API_KEY or serving.api_key_file and restart",
        )
    if sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail=f"missing or wrong {API_KEY_HEADER} header: send the service's API key",
            headers={"WWW-Authenticate": "APIKey"},
        )


ApiKey = Depends(_require_api_key)

__all__ = ["API_KEY_HEADER", "ApiKey", "resolve_api_key"]
