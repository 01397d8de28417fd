"""Creates the streams, the object store and the KV buckets of §2, once, with nats-py.

Idempotent. An existing stream or bucket that is weaker than required is refused with a clear
error instead of being changed: silently rewriting the event store's config could lose events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from libs.events import subjects as s
from libs.eventstore.errors import StreamMisconfigured

NS = 1_000_000_000


@dataclass(frozen=True)
class BootstrapOptions:
    logs_max_age_s: float = 90 * 86400
    trigger_results_ttl_s: float = 86400
    lease_ttl_s: float = 30.0
    duplicate_window_s: float = 600.0
    replicas: int = 1


def events_stream_config(opts: BootstrapOptions) -> dict[str, Any]:
    return {
        "name": s.EVENTS_STREAM,
        "subjects": [s.EVENTS_ALL],
        "retention": "limits",
        "storage": "file",
        "discard": "new",
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": 0,
        "max_msgs_per_subject": -1,
        "num_replicas": opts.replicas,
        "duplicate_window": int(opts.duplicate_window_s * NS),
        "deny_delete": True,
        "deny_purge": True,
        "allow_rollup_hdrs": False,
        "allow_direct": True,
        "allow_atomic": True,
    }


def logs_stream_config(opts: BootstrapOptions) -> dict[str, Any]:
    return {
        "name": s.LOGS_STREAM,
        "subjects": [s.LOGS_ALL],
        "retention": "limits",
        "storage": "file",
        "discard": "old",
        "max_age": int(opts.logs_max_age_s * NS),
        "num_replicas": opts.replicas,
        "allow_direct": True,
    }


def triggers_stream_config(opts: BootstrapOptions) -> dict[str, Any]:
    return {
        "name": s.TRIGGERS_STREAM,
        "subjects": [s.TRIGGERS_DEPLOY],
        "retention": "workqueue",
        "storage": "file",
        "discard": "new",
        "num_replicas": opts.replicas,
        "duplicate_window": int(120 * NS),
    }


# What "weaker" means for the event stream: any of these differing from the required value.
_EVENTS_REQUIRED = (
    "storage",
    "discard",
    "deny_delete",
    "deny_purge",
    "allow_direct",
    "allow_atomic",
    "max_age",
    "max_msgs",
    "max_bytes",
    "max_msgs_per_subject",
)


async def _stream_info(nc: NATS, name: str) -> dict[str, Any] | None:
    resp = await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=5)
    data: dict[str, Any] = json.loads(resp.data)
    if "error" in data:
        if data["error"].get("err_code") == 10059:  # stream not found
            return None
        raise StreamMisconfigured(f"stream {name}: {data['error'].get('description')}")
    return data


async def _ensure_stream(nc: NATS, cfg: dict[str, Any], required: tuple[str, ...]) -> None:
    name = cfg["name"]
    info = await _stream_info(nc, name)
    if info is None:
        resp = await nc.request(
            f"$JS.API.STREAM.CREATE.{name}", json.dumps(cfg).encode(), timeout=5
        )
        data = json.loads(resp.data)
        if "error" in data:
            if data["error"].get("err_code") == 10058:  # created concurrently by another process
                info = await _stream_info(nc, name)
            else:
                raise StreamMisconfigured(
                    f"cannot create stream {name}: {data['error'].get('description')}"
                )
        else:
            return
    assert info is not None
    have = info["config"]
    weaker = []
    for key in required:
        want, got = cfg.get(key), have.get(key, False if isinstance(cfg.get(key), bool) else None)
        if want != got:
            weaker.append(f"{key}={got!r} (required {want!r})")
    if not set(cfg["subjects"]) <= set(have.get("subjects", [])):
        weaker.append(f"subjects={have.get('subjects')} (required {cfg['subjects']})")
    if weaker:
        raise StreamMisconfigured(
            f"existing stream {name} is weaker than Slipway requires and was left unchanged: "
            + ", ".join(weaker)
        )


async def bootstrap(nc: NATS, opts: BootstrapOptions | None = None) -> None:
    """Creates (or checks) everything in §2. Safe to run from several processes at once."""
    opts = opts or BootstrapOptions()
    await _ensure_stream(nc, events_stream_config(opts), _EVENTS_REQUIRED)
    await _ensure_stream(nc, logs_stream_config(opts), ("storage",))
    await _ensure_stream(nc, triggers_stream_config(opts), ("retention", "storage"))

    js = nc.jetstream()
    from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType

    try:
        await js.object_store(s.OBJECT_STORE)
    except NotFoundError:
        await js.create_object_store(
            s.OBJECT_STORE,
            config=ObjectStoreConfig(
                bucket=s.OBJECT_STORE, storage=StorageType.FILE, replicas=opts.replicas
            ),
        )
    buckets = {
        s.KV_SECRETS: KeyValueConfig(bucket=s.KV_SECRETS, history=64),
        s.KV_LEASES: KeyValueConfig(bucket=s.KV_LEASES, ttl=opts.lease_ttl_s),
        s.KV_LOCKS: KeyValueConfig(bucket=s.KV_LOCKS, ttl=opts.lease_ttl_s),
        s.KV_CRONS: KeyValueConfig(bucket=s.KV_CRONS, history=1),
        s.KV_TRIGGER_RESULTS: KeyValueConfig(
            bucket=s.KV_TRIGGER_RESULTS, ttl=opts.trigger_results_ttl_s
        ),
    }
    for name, cfg in buckets.items():
        try:
            kv = await js.key_value(name)
            status = await kv.status()
            if name in (s.KV_LEASES, s.KV_LOCKS) and status.ttl != cfg.ttl:
                # A lease bucket's TTL *is* the lease TTL; a different one breaks takeover timing.
                raise StreamMisconfigured(
                    f"KV bucket {name} has max_age {status.ttl}s, required {cfg.ttl}s; "
                    "left unchanged"
                )
        except NotFoundError:
            cfg.storage = StorageType.FILE
            cfg.replicas = opts.replicas
            await js.create_key_value(config=cfg)
