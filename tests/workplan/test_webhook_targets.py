"""Where a webhook may go, decided in the domain (the model's clean(), the delivery), and
where a delivery really connects: the address that was checked, never a second answer of
the resolver (DNS rebinding), with the Host header, SNI and certificate of the name.
"""

from __future__ import annotations

import http.server
import importlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from django.apps import apps
from django.core.exceptions import ValidationError

from tests.api.test_webhooks import Receiver
from tests.factories import PillarFactory
from workplan import services, webhooks
from workplan.models import AuditEvent, WebhookDelivery, WebhookSubscription
from workplan.webhooks import check_webhook_target, resolve_webhook_target, webhook_attempt

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a global address: nothing here ever connects to it


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def answer(address: str, port: int) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


class Resolver:
    """socket.getaddrinfo for names under `.partner.test`: each lookup of a name gets the
    next of its answers (the last one repeats); other names and IP literals go to the
    real resolver."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **answers: list[list[str]]) -> None:
        self.answers = {f"{name.replace('_', '-')}.partner.test": a for name, a in answers.items()}
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(name)
        sequence = self.answers[name]
        addresses = sequence[min(self.lookups.count(name) - 1, len(sequence) - 1)]
        return [answer(a, int(port or 0)) for a in addresses]


def deliver_once(url: str) -> WebhookDelivery:
    """A subscription to `url` (stored as is: its checks are the subject here), one change,
    one try; the delivery as the try left it."""
    subscription = WebhookSubscription.objects.create(url=url, event_types=["*"])
    services.plan_object_archive(obj=PillarFactory(), actor=services.SYSTEM)
    assert AuditEvent.objects.exists()
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    webhook_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


# -- the rules live in the model ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@8.8.8.8/hook",
        "https://user@8.8.8.8/hook",
        "http://224.0.0.251/hook",
        "http://[ff0e::1]/hook",
        "http://0.0.0.0/hook",
        "http://10.0.0.1/hook",
    ],
)
def test_the_model_refuses_what_the_api_and_the_admin_refuse(url: str) -> None:
    subscription = WebhookSubscription(url=url, event_types=["*"])
    with pytest.raises(ValidationError) as caught:
        subscription.full_clean()
    assert "url" in caught.value.message_dict


def test_a_name_is_refused_if_any_of_its_addresses_is(monkeypatch: pytest.MonkeyPatch) -> None:
    Resolver(
        monkeypatch,
        mixed=[[PUBLIC, "224.0.0.1"]],
        private=[["10.1.1.1"]],
        public=[[PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]],
    )
    for name, reason in [("mixed", "multicast"), ("private", "non-public")]:
        with pytest.raises(ValidationError, match=reason):
            check_webhook_target(f"https://{name}.partner.test/hook")
    target = resolve_webhook_target("https://public.partner.test:8443/in?x=1")
    assert target.addresses == (PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert (target.host, target.port, target.path) == ("public.partner.test", 8443, "/in?x=1")


def test_existing_targets_lose_their_credentials_and_are_paused() -> None:
    migration = importlib.import_module("workplan.migrations.0008_webhook_delivery_lease")
    kept = WebhookSubscription.objects.create(url="https://8.8.8.8/hook", event_types=["*"])
    leaky = WebhookSubscription.objects.create(
        url="https://user:secret@8.8.8.8/hook?a=b@c", event_types=["*"]
    )
    migration.strip_credentials(apps, None)
    leaky.refresh_from_db()
    kept.refresh_from_db()
    assert (leaky.url, leaky.is_active) == ("https://8.8.8.8/hook?a=b@c", False)
    assert (kept.url, kept.is_active) == ("https://8.8.8.8/hook", True)


# -- DNS rebinding: the checked address is the one called ----------------------------------------


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address a socket of this process connects to. Only loopback is really reached;
    anything else is refused at once (this machine has no route to the internet anyway)."""
    made: list[tuple[str, int]] = []
    real = socket.socket.connect

    def spy(sock: socket.socket, address: Any) -> None:
        made.append((address[0], address[1]))
        if not str(address[0]).startswith("127."):
            raise ConnectionRefusedError(f"{address[0]} is unreachable from the tests")
        real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return made


def test_a_rebinding_resolver_never_gets_the_request_to_its_second_address(
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    receiver: Receiver,
    connections: list[tuple[str, int]],
) -> None:
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []  # loopback is refused, as in production
    port = receiver.server.server_port
    # A public address when the target is checked, loopback (the receiver) when it is called.
    resolver = Resolver(monkeypatch, rebind=[[PUBLIC], ["127.0.0.1"]])

    delivery = deliver_once(f"http://rebind.partner.test:{port}/hooks/workplan")

    assert resolver.lookups == ["rebind.partner.test"]  # resolved once, at the try
    assert connections == [(PUBLIC, port)]  # the address that was checked
    assert receiver.requests == []  # never the second answer
    assert delivery.status == "pending" and "unreachable" in delivery.last_error


def test_a_name_that_rebinds_before_the_try_is_refused_there(
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    receiver: Receiver,
    connections: list[tuple[str, int]],
) -> None:
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    port = receiver.server.server_port
    resolver = Resolver(monkeypatch, rebind=[[PUBLIC], ["127.0.0.1"]])
    url = f"http://rebind.partner.test:{port}/hooks/workplan"
    check_webhook_target(url)  # when the subscription was made: public

    delivery = deliver_once(url)  # now it says loopback

    assert resolver.lookups == ["rebind.partner.test"] * 2
    assert connections == [] and receiver.requests == []
    assert "non-public address (127.0.0.1)" in delivery.last_error


def test_the_request_names_the_host_it_was_made_for(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver, connections: list[tuple[str, int]]
) -> None:
    port = receiver.server.server_port
    Resolver(monkeypatch, hooks=[["127.0.0.1"]])
    delivery = deliver_once(f"http://hooks.partner.test:{port}/hooks/workplan")
    assert delivery.status == "delivered"
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.partner.test:{port}"
    assert request.path == "/hooks/workplan"
    assert connections == [("127.0.0.1", port)]


def test_the_next_checked_address_is_tried_when_one_refuses(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver, connections: list[tuple[str, int]]
) -> None:
    port = receiver.server.server_port
    # The receiver listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
    Resolver(monkeypatch, two=[["127.0.0.2", "127.0.0.1"]])
    delivery = deliver_once(f"http://two.partner.test:{port}/hooks/workplan")
    assert delivery.status == "delivered"
    assert connections == [("127.0.0.2", port), ("127.0.0.1", port)]
    assert len(receiver.requests) == 1


# -- https: pinned address, verified name --------------------------------------------------------


class TLSReceiver:
    """An https endpoint on 127.0.0.1 with a certificate for `name`; records the SNI asked
    for and the Host header of each request."""

    def __init__(self, ca: trustme.CA, name: str) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(context)
        context.sni_callback = lambda sock, server_name, ctx: self.server_names.append(server_name)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ca(monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A certificate authority the deliveries trust (as they trust the system's)."""
    authority = trustme.CA()

    def context() -> ssl.SSLContext:
        tls = ssl.create_default_context()
        authority.configure_trust(tls)
        return tls

    monkeypatch.setattr(webhooks, "tls_context", context)
    return authority


def test_https_is_sent_to_the_pinned_address_with_sni_and_a_verified_certificate(
    monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, connections: list[tuple[str, int]]
) -> None:
    endpoint = TLSReceiver(ca, "hooks.partner.test")
    try:
        Resolver(monkeypatch, hooks=[["127.0.0.1"]])
        delivery = deliver_once(f"https://hooks.partner.test:{endpoint.port}/in")
    finally:
        endpoint.close()
    assert delivery.status == "delivered", delivery.last_error
    assert endpoint.server_names == ["hooks.partner.test"]
    assert endpoint.hosts == [f"hooks.partner.test:{endpoint.port}"]
    assert connections == [("127.0.0.1", endpoint.port)]


def test_a_certificate_for_another_name_is_refused(
    monkeypatch: pytest.MonkeyPatch, ca: trustme.CA
) -> None:
    endpoint = TLSReceiver(ca, "other.partner.test")
    try:
        Resolver(monkeypatch, hooks=[["127.0.0.1"]])
        delivery = deliver_once(f"https://hooks.partner.test:{endpoint.port}/in")
    finally:
        endpoint.close()
    assert delivery.status == "pending"
    assert "certificate" in delivery.last_error.lower()
    assert endpoint.hosts == []  # nothing was sent


def test_an_untrusted_certificate_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = TLSReceiver(trustme.CA(), "hooks.partner.test")  # a CA nobody trusts
    try:
        Resolver(monkeypatch, hooks=[["127.0.0.1"]])
        delivery = deliver_once(f"https://hooks.partner.test:{endpoint.port}/in")
    finally:
        endpoint.close()
    assert delivery.status == "pending"
    assert "certificate verify failed" in delivery.last_error
    assert endpoint.hosts == []


# -- the timeout bounds the whole exchange -------------------------------------------------------


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_timeout(settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            # Each byte well within the per-read timeout; the whole never ends.
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        delivery = deliver_once(f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 4
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "no answer within 1 s" in delivery.last_error
