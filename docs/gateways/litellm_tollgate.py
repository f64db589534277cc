"""Tollgate verdicts and usage for the LiteLLM proxy.

Before each call the pre-call hook asks Tollgate for a verdict (with a
reservation), swaps in the model Tollgate chose, or refuses the call; after
the call the success hook reports the provider's usage object with the same
request_id, which settles the reservation. Failed calls release it.

config.yaml:
    litellm_settings:
      callbacks: litellm_tollgate.tollgate
environment:
    TOLLGATE_URL=http://127.0.0.1:8080
    TOLLGATE_VERDICT_KEY=tg_...   (role verdict)
    TOLLGATE_INGEST_KEY=tg_...    (role ingest)
The team comes from the LiteLLM key's team alias (or metadata "team").
"""
import os
import uuid

import httpx
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

URL = os.environ.get("TOLLGATE_URL", "http://127.0.0.1:8080")
VERDICT_KEY = os.environ["TOLLGATE_VERDICT_KEY"]
INGEST_KEY = os.environ["TOLLGATE_INGEST_KEY"]


def _estimate_input_tokens(data):
    # About four characters a token; good enough to size a hold.
    text = "".join(str(m.get("content", "")) for m in data.get("messages", []))
    return max(1, len(text) // 4)


class TollgateHook(CustomLogger):
    def __init__(self):
        super().__init__()
        self.http = httpx.AsyncClient(base_url=URL, timeout=2.0)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        if call_type not in ("completion", "acompletion"):
            return data
        meta = data.setdefault("metadata", {})
        request_id = meta.get("tollgate_request_id") or str(uuid.uuid4())
        meta["tollgate_request_id"] = request_id
        team = meta.get("team") or getattr(user_api_key_dict, "team_alias", None)
        body = {
            "model": data["model"],
            "input_tokens": _estimate_input_tokens(data),
            "max_output_tokens": data.get("max_tokens") or data.get("max_completion_tokens") or 1024,
            "priority": meta.get("priority", "interactive"),
            "reserve": True,
            "request_id": request_id,
        }
        if team:
            body["team"] = team
        if data.get("user"):
            body["user"] = data["user"]
        r = await self.http.post("/v1/verdict", json=body,
                                 headers={"Authorization": f"Bearer {VERDICT_KEY}"})
        if r.status_code != 200:
            return data  # Tollgate unreachable or the request refused: fail open
        v = r.json()
        if v["decision"] == "deny":
            raise HTTPException(status_code=429, detail=v["reason"]["message"])
        data["model"] = v["model"]
        meta["tollgate_reservation_id"] = v.get("reservation_id")
        return data

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        meta = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        request_id = meta.get("tollgate_request_id")
        usage = getattr(response_obj, "usage", None)
        if not request_id or usage is None:
            return
        event = {
            "id": request_id,
            "request_id": request_id,
            "model": response_obj.model,
            "usage": usage.model_dump() if hasattr(usage, "model_dump") else dict(usage),
            "usage_format": "openai.chat",
            "latency_ms": int((end_time - start_time).total_seconds() * 1000),
        }
        if meta.get("team"):
            event["team"] = meta["team"]
        await self.http.post("/v1/usage", json=event,
                             headers={"Authorization": f"Bearer {INGEST_KEY}"})

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        meta = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        rid = meta.get("tollgate_reservation_id")
        if rid:
            await self.http.post(f"/v1/reservations/{rid}/release",
                                 headers={"Authorization": f"Bearer {VERDICT_KEY}"})


tollgate = TollgateHook()
