"""A local server speaking Stripe's REST wire format for the endpoints the console calls, driven by the real
`stripe` library and dj-stripe (Stripe cannot be reached from here, and no maintained emulator covers this).

Held to what Stripe's API reference documents, so that a test passing here means something:
- form-encoded bodies and query strings with bracketed keys (`metadata[offer_id]`, arrays as `expand[0]` or
  `expand[]`); Bearer secret keys (401 `Invalid API Key provided` otherwise); a malformed `Stripe-Version` refused;
- every endpoint refuses a parameter it does not know (`Received unknown parameter: x`), and checks amounts
  (non-negative integers of at most 8 digits) and currencies;
- lists are newest first, honour their filters (`product`, `active`, `charge`, `created[gte]`, `type`, ...),
  `limit` (1-100) and `starting_after`, and expand `data.x` fields;
- idempotency as documented (docs.stripe.com/api/idempotent_requests): the first result of an endpoint that began
  executing (a 500 too, unless it says `Stripe-Should-Retry: true`) is replayed with `Idempotent-Replayed: true`
  for 24 hours; a key reused with other parameters is an `idempotency_error`; a request that fails validation
  saves nothing; a request arriving while another with the same key is in flight gets 409;
- objects shaped as Stripe returns them: products with `default_price`, immutable prices, charges with their
  balance transaction, refunds, disputes with their balance transactions, invoices with lines;
- error bodies `{"error": {"type", "message", "param", "code"}}` with their status codes.

Tests script failures on the next matching request: a 4xx error, a 429 rate limit, a 500 with `Stripe-Should-Retry`,
a connection dropped before the request runs or after (the object exists, the answer is lost), or a delay (to hold
a request in flight). Money movements that emit webhook events are in
`stripe_events.py`.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_OpsConsoleFakeStripeKey000001"
ACCOUNT_ID = "acct_1OpsConsoleFake"
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
MAX_AMOUNT = 99_999_999
LIST_PARAMS = {"limit", "starting_after", "ending_before", "expand"}
PRODUCT_FIELDS = {"name", "description", "metadata", "active", "default_price", "images", "url", "expand"}
PRICE_CREATE = {"product", "currency", "unit_amount", "recurring", "metadata", "nickname", "lookup_key", "active",
                "tax_behavior", "expand"}  # fmt: skip
PRICE_UPDATABLE = {"active", "metadata", "nickname", "lookup_key", "expand"}
CHECKOUT_CREATE = {"mode", "line_items", "success_url", "cancel_url", "client_reference_id", "metadata",
                   "payment_intent_data", "customer", "customer_email", "expires_at", "expand"}  # fmt: skip
CHECKOUT_LIFETIME_SECONDS = 24 * 3600
# GET filters each list accepts, besides LIST_PARAMS: {resource: {parameter: object field}}.
LIST_FILTERS = {
    "products": {"active": "active", "ids": "id"},
    "prices": {"product": "product", "active": "active", "currency": "currency", "type": "type"},
    "charges": {"payment_intent": "payment_intent", "customer": "customer"},
    "refunds": {"charge": "charge", "payment_intent": "payment_intent"},
    "disputes": {"charge": "charge", "payment_intent": "payment_intent"},
    "balance_transactions": {"type": "type", "source": "source", "currency": "currency"},
    "invoices": {"subscription": "subscription", "customer": "customer", "status": "status"},
}
PREFIXES = {
    "products": "prod", "prices": "price", "charges": "ch", "refunds": "re", "disputes": "du",
    "balance_transactions": "txn", "invoices": "in", "payment_intents": "pi", "subscriptions": "sub",
}  # fmt: skip
SINGULAR = {resource: resource[:-1] for resource in PREFIXES}
VERSION_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")


class StripeRequestError(Exception):
    """A 4xx the endpoint answers before doing anything (validation): no idempotent result is saved."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 error_type: str = "invalid_request_error"):  # fmt: skip
        super().__init__(message)
        self.status, self.body = status, _error(error_type, message, param=param, code=code)


def form_decode(body: str) -> dict:
    """`a[b][c]=1&list[0]=x&tags[]=y` into nested dicts and lists, as Stripe reads form bodies and queries."""
    result: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        target = result
        for index, part in enumerate(parts[:-1]):
            following = parts[index + 1]
            container = [] if following == "" or following.isdigit() else {}
            if isinstance(target, list):
                position = int(part) if part.isdigit() else len(target)
                while len(target) <= position:
                    target.append(copy.copy(container))
                target = target[position]
            else:
                target = target.setdefault(part, container)
        last = parts[-1]
        if isinstance(target, list):
            if last.isdigit():
                while len(target) <= int(last):
                    target.append(None)
                target[int(last)] = value
            else:
                target.append(value)
        else:
            target[last] = value
    return result


@dataclass
class ScriptedFailure:
    method: str
    path_prefix: str
    # "invalid" (400), "auth" (401), "rate_limit" (429), "server_error" (500), "drop" (before the request runs),
    # "drop_after" (it runs, the answer is lost), "delay" (held `seconds`, then runs)
    kind: str
    message: str = "Scripted failure"
    should_retry: bool | None = True  # the Stripe-Should-Retry header of a 500 (None: not sent)
    seconds: float = 0.0  # for "delay": how long the request is held before it runs


@dataclass
class FakeStripe:
    objects: dict[str, dict] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    # What a Checkout Session will put on its PaymentIntent (Stripe keeps it; the session object does not show it).
    checkout_intent_metadata: dict[str, dict] = field(default_factory=dict)
    failures: list[ScriptedFailure] = field(default_factory=list)
    idempotency: dict[str, tuple[str, int, dict, float]] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    _in_flight: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def of_type(self, kind: str) -> list[dict]:
        return [obj for obj in self.objects.values() if obj["object"] == kind]

    def posts(self) -> list[dict]:
        return [request for request in self.requests if request["method"] == "POST"]

    def fail_next(self, method: str, path_prefix: str, kind: str, message: str = "Scripted failure", *,
                  should_retry: bool | None = True, seconds: float = 0.0) -> None:  # fmt: skip
        self.failures.append(ScriptedFailure(method, path_prefix, kind, message, should_retry, seconds))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):014d}Fake"

    def now(self) -> int:
        return int(self.clock())

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Stripe answers at once: without this a kept-alive connection waits ~40 ms per answer (Nagle).
            disable_nagle_algorithm = True

            def do_GET(self):  # noqa: N802 - http.server's naming
                fake._handle(self, "GET", form_decode(self.path.partition("?")[2]))

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                fake._handle(self, "POST", form_decode(body))

            def do_DELETE(self):  # noqa: N802
                fake._handle(self, "DELETE", {})

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # Request handling -------------------------------------------------------------------------------------

    def _handle(self, handler, method: str, params: dict) -> None:
        path = handler.path.split("?")[0]
        key = handler.headers.get("Idempotency-Key")
        self.requests.append({"method": method, "path": path, "params": params, "idempotency_key": key,
                              "stripe_version": handler.headers.get("Stripe-Version")})  # fmt: skip
        failure = next((f for f in self.failures if f.method == method and path.startswith(f.path_prefix)), None)
        if failure:
            self.failures.remove(failure)
            if failure.kind == "drop":
                handler.connection.shutdown(socket.SHUT_RDWR)
                handler.close_connection = True
                return
            if failure.kind == "server_error":
                headers = {} if failure.should_retry is None else {"Stripe-Should-Retry": str(failure.should_retry)
                                                                   .lower()}  # fmt: skip
                body = _error("api_error", failure.message)
                if method == "POST" and key and not failure.should_retry:
                    # It failed while executing: Stripe saves the 500 under the key and replays it for 24 hours.
                    with self._lock:
                        self.idempotency[key] = (f"{method} {path} {json.dumps(params, sort_keys=True)}", 500, body,
                                                 self.clock())  # fmt: skip
                return self._send(handler, 500, body, headers=headers)
            if failure.kind not in ("delay", "drop_after"):
                status, code = {"invalid": (400, None), "auth": (401, None), "rate_limit": (429, "rate_limit")}[
                    failure.kind
                ]
                return self._send(handler, status, _error("invalid_request_error", failure.message, code=code))
        if handler.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            given = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            message = f"Invalid API Key provided: {given[:8]}{'*' * max(len(given) - 12, 0)}{given[-4:]}"
            return self._send(handler, 401, _error("invalid_request_error", message))
        version = handler.headers.get("Stripe-Version")
        if version is not None and not VERSION_FORMAT.fullmatch(version):
            message = f"Invalid Stripe API version: {version}"
            return self._send(handler, 400, _error("invalid_request_error", message, code="api_version_invalid"))
        fingerprint = f"{method} {path} {json.dumps(params, sort_keys=True)}"
        if method == "POST" and key:
            with self._lock:
                saved = self.idempotency.get(key)
                if saved and saved[3] + IDEMPOTENCY_WINDOW_SECONDS < self.clock():
                    del self.idempotency[key]  # older than 24 hours: the key is new again
                    saved = None
                if saved:
                    if saved[0] != fingerprint:
                        message = (
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request."
                        )
                        return self._send(handler, 400, _error("idempotency_error", message))
                    return self._send(handler, saved[1], saved[2], headers={"Idempotent-Replayed": "true"})
                if key in self._in_flight:
                    message = (
                        "There is currently another in-progress request using this Idempotent Key (that probably "
                        "means you submitted twice, and the other request is still going through): "
                        f"{key}. Please try again later."
                    )
                    return self._send(handler, 409, _error("idempotency_error", message))
                self._in_flight.add(key)
        try:
            if failure and failure.kind == "delay":
                time.sleep(failure.seconds)
            try:
                with self._lock:
                    status, body = 200, self._route(method, path, params)
            except StripeRequestError as error:
                return self._send(handler, error.status, error.body)  # validation: nothing saved under the key
            if method == "POST" and key:
                with self._lock:
                    self.idempotency[key] = (fingerprint, status, body, self.clock())
            if failure and failure.kind == "drop_after":
                handler.connection.shutdown(socket.SHUT_RDWR)
                handler.close_connection = True
                return
        finally:
            if method == "POST" and key:
                with self._lock:
                    self._in_flight.discard(key)
        self._send(handler, status, body)

    def _send(self, handler, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", f"req_{next(self._ids)}")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        try:
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client is gone (a killed worker); Stripe would not notice either

    def _route(self, method: str, path: str, params: dict) -> dict:
        parts = path.strip("/").split("/")  # v1, resource, [id], [sub]
        if parts[:2] == ["v1", "account"]:
            return self._account()
        if parts == ["v1", "checkout", "sessions"] and method == "POST":
            return self._checkout_session_create(params)
        if len(parts) < 2 or parts[0] != "v1" or parts[1] not in PREFIXES:
            raise StripeRequestError(404, f"Unrecognized request URL ({method}: {path}).")
        resource = parts[1]
        expand = _expansions(params)
        if len(parts) == 2 and method == "POST" and resource in ("products", "prices"):
            created = self._product_create(params) if resource == "products" else self._price_create(params)
            return self._expanded(created, expand)
        if len(parts) == 2 and method == "GET" and resource in LIST_FILTERS:
            return self._list(path, resource, params, expand)
        if len(parts) == 3 and parts[2] == "search" and method == "GET" and resource == "products":
            return self._product_search(path, params)
        if len(parts) < 3:
            raise StripeRequestError(404, f"Unrecognized request URL ({method}: {path}).")
        obj = self.objects.get(parts[2])
        if obj is None or obj["object"] != SINGULAR[resource]:
            raise StripeRequestError(404, f"No such {SINGULAR[resource]}: '{parts[2]}'", param="id",
                                     code="resource_missing")  # fmt: skip
        if len(parts) == 4 and parts[3] == "features" and method == "GET" and resource == "products":
            return _list(path, [])
        if len(parts) == 3 and method == "GET":
            _refuse_unknown(params, {"expand"})
            return self._expanded(obj, expand)
        if len(parts) == 3 and method == "POST" and resource in ("products", "prices"):
            return self._expanded(self._update(obj, params), expand)
        raise StripeRequestError(404, f"Unrecognized request URL ({method}: {path}).")

    def _expanded(self, obj: dict, expand: list[str]) -> dict:
        """A copy with each expandable id in `expand` replaced by its object (one level, as asked)."""
        result = copy.deepcopy(obj)
        for name in expand:
            value = result.get(name)
            if isinstance(value, str) and value in self.objects:
                result[name] = copy.deepcopy(self.objects[value])
            elif name not in result:
                raise StripeRequestError(400, f"This property cannot be expanded ({name}).", param="expand")
        return result

    def _list(self, path: str, resource: str, params: dict, expand: list[str]) -> dict:
        filters = LIST_FILTERS[resource]
        _refuse_unknown(params, LIST_PARAMS | set(filters) | {"created"})
        items = [obj for obj in self.objects.values() if obj["object"] == SINGULAR[resource]]
        for name, field_name in filters.items():
            if name not in params:
                continue
            wanted = params[name]
            if isinstance(wanted, list):
                items = [obj for obj in items if obj.get(field_name) in wanted]
            elif wanted in ("true", "false") and name == "active":
                items = [obj for obj in items if obj.get(field_name) is (wanted == "true")]
            else:
                items = [obj for obj in items if obj.get(field_name) == wanted]
        created = params.get("created")
        if isinstance(created, dict):
            _refuse_unknown(created, {"gt", "gte", "lt", "lte"}, prefix="created")
            for operator, value in created.items():
                if not str(value).isdigit():
                    raise StripeRequestError(400, f"Invalid integer: {value}", param=f"created[{operator}]")
                compare = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}[operator]
                items = [obj for obj in items if compare(obj["created"], int(value))]
        elif created is not None:
            if not str(created).isdigit():
                raise StripeRequestError(400, f"Invalid integer: {created}", param="created")
            items = [obj for obj in items if obj["created"] == int(created)]
        # Newest first, as Stripe lists; ids break ties in creation order.
        items.sort(key=lambda obj: (obj["created"], obj["id"]), reverse=True)
        limit = params.get("limit", "10")
        if not str(limit).isdigit() or not 1 <= int(limit) <= 100:
            raise StripeRequestError(400, "Invalid limit: must be an integer between 1 and 100.", param="limit")
        if "starting_after" in params:
            ids = [obj["id"] for obj in items]
            if params["starting_after"] not in ids:
                raise StripeRequestError(400, f"No such {SINGULAR[resource]}: '{params['starting_after']}'",
                                         param="starting_after", code="resource_missing")  # fmt: skip
            items = items[ids.index(params["starting_after"]) + 1 :]
        page = items[: int(limit)]
        data = []
        for obj in page:
            data.append(self._expanded(obj, [name.removeprefix("data.") for name in expand]))
        return {"object": "list", "data": data, "has_more": len(items) > len(page), "url": path}

    def _product_search(self, path: str, params: dict) -> dict:
        """`metadata['key']:'value'` queries (joined by AND), the only search the console makes."""
        _refuse_unknown(params, {"query", "limit", "page", "expand"})
        clauses = re.findall(r"metadata\['([^']+)'\]:'([^']*)'", params.get("query", ""))
        if not clauses:
            raise StripeRequestError(400, f"Invalid search query: {params.get('query', '')}", param="query")
        items = [obj for obj in self.of_type("product")
                 if all(obj["metadata"].get(name) == value for name, value in clauses)]  # fmt: skip
        items.sort(key=lambda obj: (obj["created"], obj["id"]), reverse=True)
        return {"object": "search_result", "data": items, "has_more": False, "next_page": None, "url": path}

    def _product_create(self, params: dict) -> dict:
        _refuse_unknown(params, PRODUCT_FIELDS - {"default_price"})
        if not params.get("name"):
            raise StripeRequestError(400, "Missing required param: name.", param="name", code="parameter_missing")
        now = self.now()
        product = {
            "id": self.new_id("prod"), "object": "product", "active": params.get("active", "true") == "true",
            "attributes": [], "created": now, "default_price": None, "description": params.get("description") or None,
            "images": [], "livemode": False, "marketing_features": [], "metadata": params.get("metadata", {}),
            "name": params["name"], "package_dimensions": None, "shippable": None, "statement_descriptor": None,
            "tax_code": None, "type": "service", "unit_label": None, "updated": now, "url": None,
        }  # fmt: skip
        self.objects[product["id"]] = product
        return product

    def _price_create(self, params: dict) -> dict:
        _refuse_unknown(params, PRICE_CREATE)
        for required in ("currency", "product"):
            if not params.get(required):
                raise StripeRequestError(400, f"Missing required param: {required}.", param=required,
                                         code="parameter_missing")  # fmt: skip
        product = self.objects.get(params["product"])
        if product is None or product["object"] != "product":
            raise StripeRequestError(400, f"No such product: '{params['product']}'", param="product",
                                     code="resource_missing")  # fmt: skip
        currency = params["currency"]
        if len(currency) != 3 or not currency.isalpha():
            raise StripeRequestError(400, f"Invalid currency: {currency}.", param="currency")
        amount = _amount(params.get("unit_amount", ""), "unit_amount")
        recurring = params.get("recurring")
        if recurring is not None:
            _refuse_unknown(recurring, {"interval", "interval_count"}, prefix="recurring")
            if recurring.get("interval") not in ("day", "week", "month", "year"):
                raise StripeRequestError(400, "Invalid recurring[interval]", param="recurring[interval]")
        price = {
            "id": self.new_id("price"), "object": "price", "active": True, "billing_scheme": "per_unit",
            "created": self.now(), "currency": currency.lower(), "custom_unit_amount": None,
            "livemode": False, "lookup_key": None, "metadata": params.get("metadata", {}), "nickname": None,
            "product": product["id"],
            "recurring": None if recurring is None else {
                "interval": recurring["interval"], "interval_count": int(recurring.get("interval_count", 1)),
                "meter": None, "trial_period_days": None, "usage_type": "licensed",
            },
            "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
            "type": "one_time" if recurring is None else "recurring",
            "unit_amount": amount, "unit_amount_decimal": str(amount),
        }  # fmt: skip
        self.objects[price["id"]] = price
        return price

    def _checkout_session_create(self, params: dict) -> dict:
        """Hosted Checkout for one-off prices (mode=payment), as docs.stripe.com/api/checkout/sessions/create."""
        _refuse_unknown(params, CHECKOUT_CREATE)
        mode = params.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise StripeRequestError(400, "Missing required param: mode.", param="mode", code="parameter_missing")
        items = params.get("line_items") or []
        if not isinstance(items, list) or not items:
            raise StripeRequestError(400, "Missing required param: line_items.", param="line_items",
                                     code="parameter_missing")  # fmt: skip
        total, currency = 0, None
        for index, item in enumerate(items):
            _refuse_unknown(item, {"price", "quantity"}, prefix=f"line_items[{index}]")
            price = self.objects.get(item.get("price", ""))
            if price is None or price["object"] != "price":
                raise StripeRequestError(400, f"No such price: '{item.get('price')}'", param=f"line_items[{index}]"
                                         "[price]", code="resource_missing")  # fmt: skip
            if not price["active"]:
                raise StripeRequestError(400, f"The price specified is inactive: {price['id']}.",
                                         param=f"line_items[{index}][price]")  # fmt: skip
            if mode == "payment" and price["type"] == "recurring":
                raise StripeRequestError(400, "You specified `payment` mode but passed a recurring price. Either "
                                         "switch to `subscription` mode or use only one-time prices.",
                                         param=f"line_items[{index}][price]")  # fmt: skip
            total += price["unit_amount"] * int(_amount(item.get("quantity", "1"), f"line_items[{index}][quantity]"))
            currency = price["currency"]
        intent_data = params.get("payment_intent_data") or {}
        if intent_data and mode != "payment":
            raise StripeRequestError(400, "You can only specify `payment_intent_data` in `payment` mode.",
                                     param="payment_intent_data")  # fmt: skip
        _refuse_unknown(intent_data, {"metadata", "description", "statement_descriptor"}, prefix="payment_intent_data")
        reference = params.get("client_reference_id")
        if reference is not None and len(reference) > 200:
            raise StripeRequestError(400, "client_reference_id must be at most 200 characters.",
                                     param="client_reference_id")  # fmt: skip
        now = self.now()
        session_id = self.new_id("cs_test")
        session = {
            "id": session_id, "object": "checkout.session", "amount_subtotal": total, "amount_total": total,
            "cancel_url": params.get("cancel_url"), "client_reference_id": reference, "created": now,
            "currency": currency, "customer": params.get("customer"), "expires_at": now + CHECKOUT_LIFETIME_SECONDS,
            "livemode": False, "metadata": params.get("metadata", {}), "mode": mode, "payment_intent": None,
            "payment_status": "unpaid", "status": "open", "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }  # fmt: skip
        self.checkout_intent_metadata[session_id] = dict(intent_data.get("metadata") or {})
        self.objects[session_id] = session
        return session

    def _update(self, obj: dict, params: dict) -> dict:
        _refuse_unknown(params, PRODUCT_FIELDS if obj["object"] == "product" else PRICE_UPDATABLE)
        if "default_price" in params:
            price = self.objects.get(params["default_price"])
            if price is None or price["object"] != "price" or price["product"] != obj["id"]:
                raise StripeRequestError(400, f"No such price: '{params['default_price']}'", param="default_price",
                                         code="resource_missing")  # fmt: skip
            if not price["active"]:
                raise StripeRequestError(400, "The default price must be active.", param="default_price")
        if obj["object"] == "price" and params.get("active") == "false":
            if self.objects[obj["product"]]["default_price"] == obj["id"]:
                raise StripeRequestError(400, "This price cannot be archived because it is the default price of its "
                                         "product.", param="active")  # fmt: skip
        for name, value in params.items():
            if name == "expand":
                continue
            if name == "metadata":
                obj["metadata"] = {**obj["metadata"], **{k: v for k, v in value.items() if v != ""}}
            elif name == "active":
                obj["active"] = value == "true"
            else:
                obj[name] = value or None
        if obj["object"] == "product":
            obj["updated"] = self.now()
        return obj

    def _account(self) -> dict:
        return {
            "id": ACCOUNT_ID, "object": "account", "business_profile": {"name": "Ops Console (fake Stripe)"},
            "charges_enabled": True, "country": "US", "created": 1700000000, "default_currency": "usd",
            "details_submitted": True, "email": None, "metadata": {}, "payouts_enabled": True,
            "settings": {"dashboard": {"display_name": "Ops Console (fake Stripe)", "timezone": "Etc/UTC"}},
            "type": "standard",
        }  # fmt: skip


def _expansions(params: dict) -> list[str]:
    expand = params.get("expand", [])
    return expand if isinstance(expand, list) else [expand]


def _refuse_unknown(params: dict, known: set[str], *, prefix: str = "") -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        name = f"{prefix}[{unknown[0]}]" if prefix else unknown[0]
        raise StripeRequestError(400, f"Received unknown parameter: {name}", param=name)


def _amount(value, param: str) -> int:
    if not str(value).isdigit():
        raise StripeRequestError(400, f"Invalid integer: {value}", param=param)
    if int(value) > MAX_AMOUNT:
        raise StripeRequestError(400, f"This value must be less than or equal to {MAX_AMOUNT} (it currently is "
                                 f"'{value}').", param=param)  # fmt: skip
    return int(value)


def _error(error_type: str, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    error = {"type": error_type, "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
    return {"error": error}


def _list(url: str, data: list[dict]) -> dict:
    return {"object": "list", "data": data, "has_more": False, "url": url}
