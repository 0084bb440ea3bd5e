"""A local server speaking Stripe's REST wire format for what the console uses, driven by the real `stripe`
library and dj-stripe (Stripe cannot be reached from here, and no maintained emulator can update products).

What it follows from Stripe's API reference: form-encoded POST bodies with bracketed keys (`metadata[offer_id]`),
Bearer secret keys (401 `Invalid API Key provided` otherwise), objects shaped as Stripe returns them, `default_price`
on products, immutable prices (only `active`, `metadata`, `nickname`, `lookup_key` can change), `Idempotency-Key`
replaying the first response (with `Idempotent-Replayed: true`) and refusing the key with other parameters
(`idempotency_error`), and error bodies `{"error": {"type", "message", "param", "code"}}` with their status codes.
Tests can script failures: a 4xx error, a 429 rate limit, or a dropped connection on the next matching request.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_OpsConsoleFakeStripeKey000001"
ACCOUNT_ID = "acct_1OpsConsoleFake"
PRODUCT_FIELDS = {"name", "description", "metadata", "active", "default_price", "images", "url"}
PRICE_UPDATABLE = {"active", "metadata", "nickname", "lookup_key"}


def form_decode(body: str) -> dict:
    """`a[b][c]=1&list[0]=x` into nested dicts, as Stripe reads form bodies."""
    result: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


@dataclass
class ScriptedFailure:
    method: str
    path_prefix: str
    kind: str  # "invalid" (400), "auth" (401), "rate_limit" (429), "drop" (connection closed)
    message: str = "Scripted failure"


@dataclass
class FakeStripe:
    objects: dict[str, dict] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    failures: list[ScriptedFailure] = field(default_factory=list)
    idempotency: dict[str, tuple[str, int, dict]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def of_type(self, kind: str) -> list[dict]:
        return [obj for obj in self.objects.values() if obj["object"] == kind]

    def posts(self) -> list[dict]:
        return [request for request in self.requests if request["method"] == "POST"]

    def fail_next(self, method: str, path_prefix: str, kind: str, message: str = "Scripted failure") -> None:
        self.failures.append(ScriptedFailure(method, path_prefix, kind, message))

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's naming
                fake._handle(self, "GET", {})

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                fake._handle(self, "POST", form_decode(body))

            def do_DELETE(self):  # noqa: N802
                fake._handle(self, "DELETE", {})

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # Request handling -------------------------------------------------------------------------------------

    def _handle(self, handler, method: str, params: dict) -> None:
        path = handler.path.split("?")[0]
        self.requests.append({"method": method, "path": path, "params": params,
                              "idempotency_key": handler.headers.get("Idempotency-Key")})  # fmt: skip
        failure = next((f for f in self.failures if f.method == method and path.startswith(f.path_prefix)), None)
        if failure:
            self.failures.remove(failure)
            if failure.kind == "drop":
                handler.connection.shutdown(socket.SHUT_RDWR)
                handler.close_connection = True
                return
            status, error_type = {"invalid": (400, "invalid_request_error"), "auth": (401, "invalid_request_error"),
                                  "rate_limit": (429, "invalid_request_error")}[failure.kind]  # fmt: skip
            code = "rate_limit" if failure.kind == "rate_limit" else None
            return self._send(handler, status, _error(error_type, failure.message, code=code))
        if handler.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            key = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            message = f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}"
            return self._send(handler, 401, _error("invalid_request_error", message))
        key = handler.headers.get("Idempotency-Key")
        with self._lock:
            if method == "POST" and key:
                if key in self.idempotency:
                    fingerprint, status, body = self.idempotency[key]
                    if fingerprint != f"{path} {json.dumps(params, sort_keys=True)}":
                        message = (
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request."
                        )
                        return self._send(handler, 400, _error("idempotency_error", message))
                    return self._send(handler, status, body, replayed=True)
            status, body = self._route(method, path, params)
            if method == "POST" and key and status < 500:
                self.idempotency[key] = (f"{path} {json.dumps(params, sort_keys=True)}", status, body)
        self._send(handler, status, body)

    def _send(self, handler, status: int, body: dict, replayed: bool = False) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", f"req_{next(self._ids)}")
        if replayed:
            handler.send_header("Idempotent-Replayed", "true")
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")  # v1, resource, [id], [sub]
        if parts[:2] == ["v1", "account"]:
            return 200, self._account()
        if len(parts) < 2 or parts[1] not in ("products", "prices"):
            return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")
        resource = parts[1]
        if len(parts) == 2 and method == "POST":
            return self._product_create(params) if resource == "products" else self._price_create(params)
        if len(parts) == 2 and method == "GET":
            return 200, _list(path, self.of_type(resource[:-1]))
        obj = self.objects.get(parts[2])
        if obj is None or obj["object"] != resource[:-1]:
            return 404, _error("invalid_request_error", f"No such {resource[:-1]}: '{parts[2]}'",
                               param="id", code="resource_missing")  # fmt: skip
        if len(parts) == 4 and parts[3] == "features" and method == "GET":
            return 200, _list(path, [])
        if method == "GET":
            return 200, obj
        if method == "POST":
            return self._update(obj, params)
        return 405, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):014d}Fake"

    def _product_create(self, params: dict) -> tuple[int, dict]:
        if not params.get("name"):
            return 400, _error("invalid_request_error", "Missing required param: name.", param="name",
                               code="parameter_missing")  # fmt: skip
        unknown = set(params) - PRODUCT_FIELDS
        if unknown:
            return 400, _unknown_parameter(sorted(unknown)[0])
        now = int(time.time())
        product = {
            "id": self._new_id("prod"), "object": "product", "active": params.get("active", "true") == "true",
            "attributes": [], "created": now, "default_price": None, "description": params.get("description") or None,
            "images": [], "livemode": False, "marketing_features": [], "metadata": params.get("metadata", {}),
            "name": params["name"], "package_dimensions": None, "shippable": None, "statement_descriptor": None,
            "tax_code": None, "type": "service", "unit_label": None, "updated": now, "url": None,
        }  # fmt: skip
        self.objects[product["id"]] = product
        return 200, product

    def _price_create(self, params: dict) -> tuple[int, dict]:
        for required in ("currency", "product"):
            if not params.get(required):
                return 400, _error("invalid_request_error", f"Missing required param: {required}.", param=required,
                                   code="parameter_missing")  # fmt: skip
        if params["product"] not in self.objects:
            return 400, _error("invalid_request_error", f"No such product: '{params['product']}'", param="product",
                               code="resource_missing")  # fmt: skip
        if len(params["currency"]) != 3 or not params["currency"].isalpha():
            return 400, _error("invalid_request_error", f"Invalid currency: {params['currency']}.", param="currency")
        amount = params.get("unit_amount", "")
        if not amount.isdigit():
            return 400, _error("invalid_request_error", "Invalid integer: " + amount, param="unit_amount")
        recurring = params.get("recurring")
        if recurring is not None and recurring.get("interval") not in ("day", "week", "month", "year"):
            return 400, _error("invalid_request_error", "Invalid recurring[interval]", param="recurring[interval]")
        price = {
            "id": self._new_id("price"), "object": "price", "active": True, "billing_scheme": "per_unit",
            "created": int(time.time()), "currency": params["currency"].lower(), "custom_unit_amount": None,
            "livemode": False, "lookup_key": None, "metadata": params.get("metadata", {}), "nickname": None,
            "product": params["product"],
            "recurring": None if recurring is None else {
                "interval": recurring["interval"], "interval_count": int(recurring.get("interval_count", 1)),
                "meter": None, "trial_period_days": None, "usage_type": "licensed",
            },
            "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
            "type": "one_time" if recurring is None else "recurring",
            "unit_amount": int(amount), "unit_amount_decimal": amount,
        }  # fmt: skip
        self.objects[price["id"]] = price
        return 200, price

    def _update(self, obj: dict, params: dict) -> tuple[int, dict]:
        allowed = PRODUCT_FIELDS if obj["object"] == "product" else PRICE_UPDATABLE
        unknown = set(params) - allowed
        if unknown:
            return 400, _unknown_parameter(sorted(unknown)[0])
        if "default_price" in params:
            price = self.objects.get(params["default_price"])
            if price is None or price["product"] != obj["id"]:
                return 400, _error("invalid_request_error", f"No such price: '{params['default_price']}'",
                                   param="default_price", code="resource_missing")  # fmt: skip
            if not price["active"]:
                return 400, _error("invalid_request_error", "The default price must be active.",
                                   param="default_price")  # fmt: skip
        if obj["object"] == "price" and params.get("active") == "false":
            product = self.objects[obj["product"]]
            if product["default_price"] == obj["id"]:
                return 400, _error("invalid_request_error", "This price cannot be archived because it is the "
                                   "default price of its product.", param="active")  # fmt: skip
        for name, value in params.items():
            if name == "metadata":
                obj["metadata"] = {**obj["metadata"], **{k: v for k, v in value.items() if v != ""}}
            elif name == "active":
                obj["active"] = value == "true"
            else:
                obj[name] = value or None
        if obj["object"] == "product":
            obj["updated"] = int(time.time())
        return 200, obj

    def _account(self) -> dict:
        return {
            "id": ACCOUNT_ID, "object": "account", "business_profile": {"name": "Ops Console (fake Stripe)"},
            "charges_enabled": True, "country": "US", "created": 1700000000, "default_currency": "usd",
            "details_submitted": True, "email": None, "metadata": {}, "payouts_enabled": True,
            "settings": {"dashboard": {"display_name": "Ops Console (fake Stripe)", "timezone": "Etc/UTC"}},
            "type": "standard",
        }  # fmt: skip


def _error(error_type: str, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    error = {"type": error_type, "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
    return {"error": error}


def _unknown_parameter(name: str) -> dict:
    return _error("invalid_request_error", f"Received unknown parameter: {name}", param=name)


def _list(url: str, data: list[dict]) -> dict:
    return {"object": "list", "data": data, "has_more": False, "url": url}
