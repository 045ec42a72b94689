#!/usr/bin/env python3
"""Drives oxidex's admin gRPC API (`api.Dex`) the way a Dex admin tool does.

The stubs are generated at start from crates/issuer-http/proto/api.proto with the standard
tooling (`python -m grpc_tools.protoc`), as a tool built against Dex's api.proto would be, and
every RPC of the service is called against a running server. Each check prints `ok <name>` or
`FAIL <name>: <why>` on stdout; the exit code is 0 only if every check passed (and every RPC of
the proto was called).

Needs: pip install grpcio grpcio-tools bcrypt

    python3 tests/python/admin_client.py --addr 127.0.0.1:5557 \
        --issuer http://127.0.0.1:5556/dex --user-sub <sub> --client-id example-app

Run by bins/oxidex/tests/admin_python.rs, which starts the server and logs a user in first.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import bcrypt
import grpc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PROTO = os.path.join(REPO, "crates", "issuer-http", "proto", "api.proto")

# Dex's storage.NewID(): a letter, then 15 random bytes in unpadded lowercase base32.
NEW_ID = re.compile(r"[a-z][a-z2-7]{24}")
TIMEOUT = 15.0


class Checks:
    """Prints `ok <name>` or `FAIL <name>: <why>` per check.

    Checks named with --expect-fail are known differences of the server from Dex, kept
    visible: they print `xfail <name>: <why>` while they fail, and `FAIL` once they pass (so the
    list is trimmed when the server is fixed).
    """

    def __init__(self, expected_failures=()) -> None:
        self.failed = 0
        self.passed = 0
        self.xfailed = 0
        self.expected_failures = set(expected_failures)
        self.seen: set[str] = set()

    def check(self, name: str, condition: bool, why: str = "") -> bool:
        self.seen.add(name)
        if name in self.expected_failures:
            if condition:
                self.failed += 1
                print(f"FAIL {name}: passes now, but is listed as a known server difference "
                      "(--expect-fail): remove it from the list", flush=True)
            else:
                self.xfailed += 1
                print(f"xfail {name}: {why or 'assertion failed'}", flush=True)
            return condition
        if condition:
            self.passed += 1
            print(f"ok {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {why or 'assertion failed'}", flush=True)
        return condition

    def equal(self, name: str, got, want) -> bool:
        return self.check(name, got == want, f"got {got!r}, want {want!r}")

    def fail(self, name: str, why: str) -> None:
        self.check(name, False, why)


def generate_stubs(proto: str, out: str):
    """api_pb2 and api_pb2_grpc, generated into `out` by grpc_tools.protoc."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{os.path.dirname(proto)}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            os.path.basename(proto),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"grpc_tools.protoc failed ({proc.returncode}): {proc.stderr}")
    sys.path.insert(0, out)
    import api_pb2  # noqa: E402  (generated just now)
    import api_pb2_grpc  # noqa: E402

    return api_pb2, api_pb2_grpc


class Api:
    """The generated stub, recording which RPCs were called."""

    def __init__(self, channel, pb, pb_grpc) -> None:
        self.stub = pb_grpc.DexStub(channel)
        self.channel = channel
        self.pb = pb
        self.called: set[str] = set()

    def __getattr__(self, method: str):
        rpc = getattr(self.stub, method)

        def call(request):
            self.called.add(method)
            return rpc(request, timeout=TIMEOUT)

        return call

    def raw(self, method: str, request) -> bytes:
        """The response's bytes as they came over the wire (not decoded)."""
        self.called.add(method)
        rpc = self.channel.unary_unary(
            f"/api.Dex/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=None,
        )
        return rpc(request, timeout=TIMEOUT)

    def error(self, method: str, request):
        """Calls `method`, expecting a gRPC error; the error, or None if it succeeded."""
        try:
            getattr(self, method)(request)
        except grpc.RpcError as e:
            return e
        return None


def expect_error(c: Checks, name: str, api: Api, method: str, request) -> None:
    err = api.error(method, request)
    if err is None:
        c.fail(name, f"{method} succeeded, an error was expected")
    else:
        # Dex answers these with plain errors (UNKNOWN); oxidex with a meaningful code. A Dex
        # tool only sees "an error": that is what is asserted.
        c.check(name, err.code() != grpc.StatusCode.OK, f"{err.code()}")
        print(f"  ({method}: {err.code().name}: {err.details()})", file=sys.stderr)


def section(c: Checks, name: str, fn, *args) -> None:
    """Runs a group of checks; an unexpected exception fails the group instead of the run."""
    try:
        fn(c, *args)
    except grpc.RpcError as e:
        c.fail(name, f"unexpected gRPC error {e.code().name}: {e.details()}")
    except Exception as e:  # noqa: BLE001  (reported, never swallowed)
        c.fail(name, f"unexpected {type(e).__name__}: {e}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def proto_strings(data: bytes) -> dict[int, str]:
    """The length-delimited fields of a small protobuf message (field number → text)."""
    out, i = {}, 0
    while i < len(data):
        key, length = data[i], data[i + 1]
        assert key & 7 == 2 and length < 128, "only short length-delimited fields"
        out[key >> 3] = data[i + 2:i + 2 + length].decode()
        i += 2 + length
    return out


def jwt_claims(jwt: str) -> dict:
    return json.loads(b64url_decode(jwt.split(".")[1]))


def token_request(args, form: dict) -> tuple[int, dict]:
    """POSTs `form` to the token endpoint as --client-id; the status and the JSON body."""
    req = urllib.request.Request(args.issuer + "/token", method="POST",
                                 data=urllib.parse.urlencode(form).encode())
    cred = base64.b64encode(f"{args.client_id}:{args.client_secret}".encode()).decode()
    req.add_header("Authorization", f"Basic {cred}")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def encode_sub(user_id: str, conn_id: str) -> str:
    """Dex's IDTokenSubject{user_id = 1, conn_id = 2}, base64url without padding."""
    out = b""
    for tag, value in ((0x0A, user_id), (0x12, conn_id)):
        raw = value.encode()
        if raw:
            assert len(raw) < 128
            out += bytes([tag, len(raw)]) + raw
    return b64url(out)


# ---------------------------------------------------------------------------------------------
# Server information
# ---------------------------------------------------------------------------------------------


def server_info(c: Checks, api: Api, args) -> None:
    pb = api.pb
    v = api.GetVersion(pb.VersionReq())
    c.equal("version.api", v.api, 3)
    if args.server_version:
        c.equal("version.server", v.server, args.server_version)
    else:
        c.check("version.server", v.server != "", "empty server version")

    d = api.GetDiscovery(pb.DiscoveryReq())
    c.equal("discovery.issuer", d.issuer, args.issuer)
    c.equal("discovery.token_endpoint", d.token_endpoint, args.issuer + "/token")
    c.equal("discovery.authorization_endpoint", d.authorization_endpoint, args.issuer + "/auth")
    c.equal("discovery.jwks_uri", d.jwks_uri, args.issuer + "/keys")
    c.check("discovery.scopes", {"openid", "offline_access"} <= set(d.scopes_supported),
            f"{list(d.scopes_supported)}")
    c.check("discovery.grant_types", {"password", "refresh_token"} <= set(d.grant_types_supported),
            f"{list(d.grant_types_supported)}")
    # Dex's GetDiscovery runs the same handler as /.well-known/openid-configuration.
    with urllib.request.urlopen(args.issuer + "/.well-known/openid-configuration",
                                timeout=TIMEOUT) as r:
        http_doc = json.load(r)
    for field in pb.DiscoveryResp.DESCRIPTOR.fields:
        got = getattr(d, field.name)
        repeated = not isinstance(got, str)  # every field is a string or repeated strings
        got = list(got) if repeated else got
        want = http_doc.get(field.name, [] if repeated else "")
        c.equal(f"discovery.same_as_http.{field.name}", got, want)


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


def clients(c: Checks, api: Api, args) -> None:
    pb = api.pb
    client = pb.Client(
        id="py-app",
        secret="py-app-secret",
        redirect_uris=["https://py.example/callback"],
        trusted_peers=["example-app"],
        name="Python App",
        logo_url="https://py.example/logo.png",
    )
    r = api.CreateClient(pb.CreateClientReq(client=client))
    c.equal("client.create.already_exists", r.already_exists, False)
    c.equal("client.create.returns_client", r.client, client)

    r = api.CreateClient(pb.CreateClientReq(client=pb.Client(id="py-app", secret="other")))
    c.equal("client.create_duplicate.already_exists", r.already_exists, True)
    got = api.GetClient(pb.GetClientReq(id="py-app")).client
    c.equal("client.create_duplicate.left_alone", got.secret, "py-app-secret")

    # No id, no secret: Dex generates NewID() and NewID()+NewID().
    r = api.CreateClient(pb.CreateClientReq(client=pb.Client(
        name="Generated", redirect_uris=["https://gen.example/cb"])))
    c.equal("client.generated.already_exists", r.already_exists, False)
    gen = r.client
    c.check("client.generated.id_shape", NEW_ID.fullmatch(gen.id) is not None, repr(gen.id))
    c.check("client.generated.secret_shape",
            len(gen.secret) == 50 and NEW_ID.fullmatch(gen.secret[:25]) is not None
            and NEW_ID.fullmatch(gen.secret[25:]) is not None, repr(gen.secret))
    c.equal("client.generated.stored", api.GetClient(pb.GetClientReq(id=gen.id)).client, gen)

    r = api.CreateClient(pb.CreateClientReq(client=pb.Client(
        name="Public CLI", public=True, redirect_uris=["http://127.0.0.1:8000/cb"])))
    pub = r.client
    c.check("client.generated_public.id_shape", NEW_ID.fullmatch(pub.id) is not None, repr(pub.id))
    c.equal("client.generated_public.no_secret", pub.secret, "")
    c.equal("client.generated_public.public", pub.public, True)
    r2 = api.CreateClient(pb.CreateClientReq(client=pb.Client(name="Other")))
    c.check("client.generated.ids_differ", r2.client.id not in (gen.id, pub.id), r2.client.id)

    got = api.GetClient(pb.GetClientReq(id="py-app")).client
    c.equal("client.get", got, client)
    expect_error(c, "client.get_unknown.error", api, "GetClient", pb.GetClientReq(id="nope"))
    static = api.GetClient(pb.GetClientReq(id=args.client_id)).client
    c.equal("client.get_static.id", static.id, args.client_id)
    if args.client_secret:
        c.equal("client.get_static.secret", static.secret, args.client_secret)

    # Non-empty lists and strings replace; empty ones keep.
    r = api.UpdateClient(pb.UpdateClientReq(
        id="py-app", redirect_uris=["https://py.example/new", "https://py.example/other"],
        name="Python App 2"))
    c.equal("client.update.not_found", r.not_found, False)
    got = api.GetClient(pb.GetClientReq(id="py-app")).client
    c.equal("client.update.redirect_uris", list(got.redirect_uris),
            ["https://py.example/new", "https://py.example/other"])
    c.equal("client.update.name", got.name, "Python App 2")
    c.equal("client.update.kept_trusted_peers", list(got.trusted_peers), ["example-app"])
    c.equal("client.update.kept_logo_url", got.logo_url, "https://py.example/logo.png")
    c.equal("client.update.kept_secret", got.secret, "py-app-secret")
    r = api.UpdateClient(pb.UpdateClientReq(id="py-app", trusted_peers=["a", "b"],
                                            logo_url="https://py.example/2.png"))
    got = api.GetClient(pb.GetClientReq(id="py-app")).client
    c.equal("client.update2.trusted_peers", list(got.trusted_peers), ["a", "b"])
    c.equal("client.update2.logo_url", got.logo_url, "https://py.example/2.png")
    c.equal("client.update2.kept_name", got.name, "Python App 2")
    r = api.UpdateClient(pb.UpdateClientReq(id="nope", name="x"))
    c.equal("client.update_unknown.not_found", r.not_found, True)
    # Dex's static overlay: a configured client cannot be created, changed or deleted (an
    # error, not already_exists).
    expect_error(c, "client.create_static_id.error", api, "CreateClient",
                 pb.CreateClientReq(client=pb.Client(id=args.client_id, secret="hijacked")))
    expect_error(c, "client.update_static.error", api, "UpdateClient",
                 pb.UpdateClientReq(id=args.client_id, name="hijacked"))
    c.check("client.update_static.unchanged",
            api.GetClient(pb.GetClientReq(id=args.client_id)).client.name != "hijacked")

    listed = api.ListClients(pb.ListClientReq()).clients
    by_id = {x.id: x for x in listed}
    c.check("client.list.has_created", "py-app" in by_id and gen.id in by_id and pub.id in by_id,
            f"{sorted(by_id)}")
    c.check("client.list.has_static", args.client_id in by_id, f"{sorted(by_id)}")
    if "py-app" in by_id:
        info = by_id["py-app"]
        c.equal("client.list.fields", (info.name, list(info.redirect_uris),
                                       list(info.trusted_peers), info.public, info.logo_url),
                ("Python App 2", ["https://py.example/new", "https://py.example/other"],
                 ["a", "b"], False, "https://py.example/2.png"))
    if pub.id in by_id:
        c.equal("client.list.public_flag", by_id[pub.id].public, True)
    # ClientInfo has no secret field; make sure no secret travels in some other field either.
    raw = api.raw("ListClients", pb.ListClientReq())
    secrets = [b"py-app-secret", gen.secret.encode()] + (
        [args.client_secret.encode()] if args.client_secret else [])
    c.check("client.list.no_secrets", not any(s in raw for s in secrets),
            "a client secret is in the ListClients response")
    c.check("client.list.decodes_as_ClientInfo",
            len(pb.ListClientResp.FromString(raw).clients) == len(listed))

    r = api.DeleteClient(pb.DeleteClientReq(id="py-app"))
    c.equal("client.delete.not_found", r.not_found, False)
    expect_error(c, "client.delete.gone", api, "GetClient", pb.GetClientReq(id="py-app"))
    r = api.DeleteClient(pb.DeleteClientReq(id="py-app"))
    c.equal("client.delete_again.not_found", r.not_found, True)
    ids = {x.id for x in api.ListClients(pb.ListClientReq()).clients}
    c.check("client.delete.not_listed", "py-app" not in ids and gen.id in ids, f"{sorted(ids)}")
    expect_error(c, "client.delete_static.error", api, "DeleteClient",
                 pb.DeleteClientReq(id=args.client_id))
    api.GetClient(pb.GetClientReq(id=args.client_id))
    c.check("client.delete_static.still_there", True)
    for x in (gen.id, pub.id, r2.client.id):
        api.DeleteClient(pb.DeleteClientReq(id=x))


# ---------------------------------------------------------------------------------------------
# Passwords
# ---------------------------------------------------------------------------------------------


def passwords(c: Checks, api: Api, args) -> None:
    pb = api.pb
    email = "py-user@example.com"
    hash10 = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=10))  # $2b$10$...
    c.check("password.bcrypt_cost10_made", hash10.startswith(b"$2b$10$"), hash10[:7].decode())
    pw = pb.Password(email=email, hash=hash10, username="pyuser", user_id="py-user-id-1")
    r = api.CreatePassword(pb.CreatePasswordReq(password=pw))
    c.equal("password.create.already_exists", r.already_exists, False)
    r = api.CreatePassword(pb.CreatePasswordReq(password=pw))
    c.equal("password.create_duplicate.already_exists", r.already_exists, True)
    # Dex's storages key passwords by the lower-cased e-mail address.
    r = api.CreatePassword(pb.CreatePasswordReq(password=pb.Password(
        email="PY-USER@example.com", hash=hash10, username="dup", user_id="dup")))
    c.equal("password.create_duplicate_other_case.already_exists", r.already_exists, True)

    # A $2a$ hash, as Go's bcrypt and htpasswd make them.
    hash2a = bcrypt.hashpw(b"other", bcrypt.gensalt(rounds=10, prefix=b"2a"))
    r = api.CreatePassword(pb.CreatePasswordReq(password=pb.Password(
        email="py-2a@example.com", hash=hash2a, username="py2a", user_id="py-2a")))
    c.equal("password.create_2a.already_exists", r.already_exists, False)

    # Dex refuses hashes cheaper than bcrypt.DefaultCost (10) or dearer than 16.
    hash4 = bcrypt.hashpw(b"weak", bcrypt.gensalt(rounds=4))
    weak = "py-weak@example.com"
    expect_error(c, "password.create_cost4.refused", api, "CreatePassword", pb.CreatePasswordReq(
        password=pb.Password(email=weak, hash=hash4, username="weak", user_id="weak")))
    hash17 = hash4.replace(b"$04$", b"$17$", 1)
    expect_error(c, "password.create_cost17.refused", api, "CreatePassword", pb.CreatePasswordReq(
        password=pb.Password(email=weak, hash=hash17, username="weak", user_id="weak")))
    expect_error(c, "password.create_plaintext.refused", api, "CreatePassword",
                 pb.CreatePasswordReq(password=pb.Password(
                     email=weak, hash=b"s3cret", username="weak", user_id="weak")))
    expect_error(c, "password.create_no_user_id.refused", api, "CreatePassword",
                 pb.CreatePasswordReq(password=pb.Password(email=weak, hash=hash10)))
    r = api.VerifyPassword(pb.VerifyPasswordReq(email=weak, password="weak"))
    c.equal("password.refused_not_stored", r.not_found, True)

    listed = {p.email: p for p in api.ListPasswords(pb.ListPasswordReq()).passwords}
    c.check("password.list.has_created", email in listed, f"{sorted(listed)}")
    if email in listed:
        p = listed[email]
        c.equal("password.list.fields", (p.hash, p.username, p.user_id),
                (hash10, "pyuser", "py-user-id-1"))
    c.check("password.list.has_static", "admin@example.com" in listed, f"{sorted(listed)}")
    c.check("password.list.no_weak", weak not in listed, f"{sorted(listed)}")

    r = api.VerifyPassword(pb.VerifyPasswordReq(email=email, password="s3cret"))
    c.equal("password.verify_right", (r.verified, r.not_found), (True, False))
    r = api.VerifyPassword(pb.VerifyPasswordReq(email=email, password="wrong"))
    c.equal("password.verify_wrong", (r.verified, r.not_found), (False, False))
    r = api.VerifyPassword(pb.VerifyPasswordReq(email="nobody@example.com", password="s3cret"))
    c.equal("password.verify_unknown", (r.verified, r.not_found), (False, True))
    r = api.VerifyPassword(pb.VerifyPasswordReq(email="py-2a@example.com", password="other"))
    c.equal("password.verify_2a", (r.verified, r.not_found), (True, False))
    # Dex's storages key passwords by the lower-cased e-mail address.
    r = api.VerifyPassword(pb.VerifyPasswordReq(email="Py-User@Example.COM", password="s3cret"))
    c.equal("password.verify_email_case_insensitive", (r.verified, r.not_found), (True, False))
    r = api.VerifyPassword(pb.VerifyPasswordReq(email="admin@example.com", password="password"))
    c.equal("password.verify_static", (r.verified, r.not_found), (True, False))

    if args.client_secret:
        # The user exists for the issuer at once: the password grant logs it in through the
        # local connector, and its `sub` is Dex's encoding of (user_id, "local").
        status, body = token_request(args, {"grant_type": "password", "username": email,
                                            "password": "s3cret", "scope": "openid email"})
        c.equal("password.created_user_logs_in", status, 200)
        if status == 200:
            claims = jwt_claims(body["id_token"])
            c.equal("password.created_user.sub", claims.get("sub"),
                    encode_sub("py-user-id-1", "local"))
            c.equal("password.created_user.email", claims.get("email"), email)

    new_hash = bcrypt.hashpw(b"n3w-s3cret", bcrypt.gensalt(rounds=10))
    r = api.UpdatePassword(pb.UpdatePasswordReq(email=email, new_hash=new_hash,
                                                new_username="pyuser2"))
    c.equal("password.update.not_found", r.not_found, False)
    r = api.VerifyPassword(pb.VerifyPasswordReq(email=email, password="n3w-s3cret"))
    c.equal("password.update.new_verifies", r.verified, True)
    r = api.VerifyPassword(pb.VerifyPasswordReq(email=email, password="s3cret"))
    c.equal("password.update.old_refused", r.verified, False)
    r = api.UpdatePassword(pb.UpdatePasswordReq(email=email, new_username="pyuser3"))
    c.equal("password.update_username_only.not_found", r.not_found, False)
    p = {p.email: p for p in api.ListPasswords(pb.ListPasswordReq()).passwords}.get(email)
    c.check("password.update.listed", p is not None
            and (p.hash, p.username, p.user_id) == (new_hash, "pyuser3", "py-user-id-1"),
            f"{p}")
    r = api.UpdatePassword(pb.UpdatePasswordReq(email="nobody@example.com",
                                                new_username="x"))
    c.equal("password.update_unknown.not_found", r.not_found, True)
    expect_error(c, "password.update_cost4.refused", api, "UpdatePassword",
                 pb.UpdatePasswordReq(email=email, new_hash=hash4))
    r = api.VerifyPassword(pb.VerifyPasswordReq(email=email, password="n3w-s3cret"))
    c.equal("password.update_cost4.kept_hash", r.verified, True)
    expect_error(c, "password.create_static_email.error", api, "CreatePassword",
                 pb.CreatePasswordReq(password=pb.Password(
                     email="admin@example.com", hash=hash10, username="x", user_id="x")))
    expect_error(c, "password.update_static.error", api, "UpdatePassword",
                 pb.UpdatePasswordReq(email="admin@example.com", new_username="hijacked"))

    r = api.DeletePassword(pb.DeletePasswordReq(email=email))
    c.equal("password.delete.not_found", r.not_found, False)
    r = api.DeletePassword(pb.DeletePasswordReq(email=email))
    c.equal("password.delete_again.not_found", r.not_found, True)
    r = api.VerifyPassword(pb.VerifyPasswordReq(email=email, password="n3w-s3cret"))
    c.equal("password.delete.verify_not_found", r.not_found, True)
    emails = {p.email for p in api.ListPasswords(pb.ListPasswordReq()).passwords}
    c.check("password.delete.not_listed", email not in emails, f"{sorted(emails)}")
    expect_error(c, "password.delete_static.error", api, "DeletePassword",
                 pb.DeletePasswordReq(email="admin@example.com"))
    r = api.VerifyPassword(pb.VerifyPasswordReq(email="admin@example.com", password="password"))
    c.equal("password.delete_static.still_verifies", r.verified, True)
    api.DeletePassword(pb.DeletePasswordReq(email="py-2a@example.com"))


# ---------------------------------------------------------------------------------------------
# Connectors
# ---------------------------------------------------------------------------------------------


def connectors(c: Checks, api: Api, args) -> None:
    pb = api.pb
    if args.connectors_crud == "off":
        # Without DEX_API_CONNECTORS_CRUD every connector call is refused, as in Dex.
        conn = pb.Connector(id="x", type="github", name="X", config=b"{}")
        for method, req in (
            ("CreateConnector", pb.CreateConnectorReq(connector=conn)),
            ("UpdateConnector", pb.UpdateConnectorReq(id="x", new_name="Y")),
            ("DeleteConnector", pb.DeleteConnectorReq(id="x")),
            ("ListConnectors", pb.ListConnectorReq()),
        ):
            expect_error(c, f"connector.flag_off.{method}.refused", api, method, req)
        return

    # Keys deliberately not in sorted order, with Python's ", " / ": " spacing.
    config = {"redirectURI": args.issuer + "/callback", "clientSecret": "py-secret",
              "clientID": "py-id"}
    conn = pb.Connector(id="py-github", type="github", name="GitHub (py)",
                        config=json.dumps(config).encode())
    r = api.CreateConnector(pb.CreateConnectorReq(connector=conn))
    c.equal("connector.create.already_exists", r.already_exists, False)
    r = api.CreateConnector(pb.CreateConnectorReq(connector=conn))
    c.equal("connector.create_duplicate.already_exists", r.already_exists, True)
    expect_error(c, "connector.create_bad_json.refused", api, "CreateConnector",
                 pb.CreateConnectorReq(connector=pb.Connector(
                     id="py-bad", type="github", name="Bad", config=b"{not json")))
    expect_error(c, "connector.create_no_name.refused", api, "CreateConnector",
                 pb.CreateConnectorReq(connector=pb.Connector(
                     id="py-bad", type="github", config=b"{}")))

    def listed():
        return {x.id: x for x in api.ListConnectors(pb.ListConnectorReq()).connectors}

    all_ = listed()
    c.check("connector.list.has_created", "py-github" in all_, f"{sorted(all_)}")
    c.check("connector.list.no_refused", "py-bad" not in all_, f"{sorted(all_)}")
    if "py-github" in all_:
        x = all_["py-github"]
        c.equal("connector.list.fields", (x.type, x.name, json.loads(x.config)),
                ("github", "GitHub (py)", config))
        # Dex stores the config bytes and hands them back untouched; tools that diff them
        # (Terraform-style drift detection) rely on that.
        c.equal("connector.list.config_bytes_as_sent", x.config, conn.config)
    # Dex keeps the config's JSON values exactly, large integers included.
    numbers = b'{"port": 636, "big": 12345678901234567890123, "ratio": 1e3}'
    r = api.CreateConnector(pb.CreateConnectorReq(connector=pb.Connector(
        id="py-numbers", type="ldap", name="Numbers", config=numbers)))
    c.equal("connector.create_numbers.already_exists", r.already_exists, False)
    x = listed().get("py-numbers")
    c.check("connector.list.config_json_values_kept",
            x is not None and json.loads(x.config) == json.loads(numbers),
            f"sent {numbers!r}, listed {x.config if x else None!r}")
    api.DeleteConnector(pb.DeleteConnectorReq(id="py-numbers"))
    # Dex lists the static connectors too (storage.WithStaticConnectors), among them "local"
    # when enablePasswordDB is set (cmd/dex/serve.go adds it as a static connector).
    if args.static_connector:
        c.check("connector.list.has_static", args.static_connector in all_, f"{sorted(all_)}")
    c.check("connector.list.has_local", "local" in all_, f"{sorted(all_)}")

    r = api.UpdateConnector(pb.UpdateConnectorReq(id="py-github", new_name="GitHub Enterprise"))
    c.equal("connector.update_name.not_found", r.not_found, False)
    x = listed().get("py-github")
    c.check("connector.update_name.applied",
            x is not None and (x.type, x.name, json.loads(x.config))
            == ("github", "GitHub Enterprise", config), f"{x}")
    config2 = dict(config, hostName="github.example.com")
    r = api.UpdateConnector(pb.UpdateConnectorReq(id="py-github",
                                                  new_config=json.dumps(config2).encode()))
    c.equal("connector.update_config.not_found", r.not_found, False)
    x = listed().get("py-github")
    c.check("connector.update_config.applied",
            x is not None and (x.type, x.name, json.loads(x.config))
            == ("github", "GitHub Enterprise", config2), f"{x}")
    r = api.UpdateConnector(pb.UpdateConnectorReq(id="py-github", new_type="gitlab"))
    x = listed().get("py-github")
    c.check("connector.update_type.applied", x is not None and x.type == "gitlab", f"{x}")
    r = api.UpdateConnector(pb.UpdateConnectorReq(id="nope", new_name="x"))
    c.equal("connector.update_unknown.not_found", r.not_found, True)
    expect_error(c, "connector.update_bad_json.refused", api, "UpdateConnector",
                 pb.UpdateConnectorReq(id="py-github", new_config=b"{not json"))
    if args.static_connector:
        expect_error(c, "connector.create_static_id.error", api, "CreateConnector",
                     pb.CreateConnectorReq(connector=pb.Connector(
                         id=args.static_connector, type="github", name="X", config=b"{}")))
        expect_error(c, "connector.update_static.error", api, "UpdateConnector",
                     pb.UpdateConnectorReq(id=args.static_connector, new_name="hijacked"))

    r = api.DeleteConnector(pb.DeleteConnectorReq(id="py-github"))
    c.equal("connector.delete.not_found", r.not_found, False)
    r = api.DeleteConnector(pb.DeleteConnectorReq(id="py-github"))
    c.equal("connector.delete_again.not_found", r.not_found, True)
    all_ = listed()
    c.check("connector.delete.not_listed", "py-github" not in all_, f"{sorted(all_)}")
    if args.static_connector:
        expect_error(c, "connector.delete_static.error", api, "DeleteConnector",
                     pb.DeleteConnectorReq(id=args.static_connector))
        c.check("connector.delete_static.still_listed", args.static_connector in listed())


# ---------------------------------------------------------------------------------------------
# Refresh tokens
# ---------------------------------------------------------------------------------------------


def refresh(c: Checks, api: Api, args) -> None:
    pb = api.pb
    sub, client_id = args.user_sub, args.client_id
    now = int(time.time())
    tokens = api.ListRefresh(pb.ListRefreshReq(user_id=sub)).refresh_tokens
    c.equal("refresh.list.one", len(tokens), 1)
    if tokens:
        t = tokens[0]
        c.equal("refresh.list.client_id", t.client_id, client_id)
        c.check("refresh.list.id", t.id != "", "empty id")
        c.check("refresh.list.created_at", now - 600 <= t.created_at <= now + 60,
                f"{t.created_at} vs now {now}")
        c.check("refresh.list.last_used", t.created_at <= t.last_used <= now + 60,
                f"created {t.created_at}, last used {t.last_used}")
        if args.refresh_token:
            # A Dex refresh token is base64url(RefreshToken{refresh_id = 1, token = 2}); the
            # listed id is that refresh_id.
            fields = proto_strings(b64url_decode(args.refresh_token))
            c.equal("refresh.list.id_is_the_tokens_id", t.id, fields.get(1))

    other = encode_sub("no-such-user", "local")
    tokens = api.ListRefresh(pb.ListRefreshReq(user_id=other)).refresh_tokens
    c.equal("refresh.list_unknown_user.empty", len(tokens), 0)
    expect_error(c, "refresh.list_not_a_sub.error", api, "ListRefresh",
                 pb.ListRefreshReq(user_id="%%% not a sub %%%"))

    r = api.RevokeRefresh(pb.RevokeRefreshReq(user_id=sub, client_id="some-other-client"))
    c.equal("refresh.revoke_other_client.not_found", r.not_found, True)
    c.equal("refresh.revoke_other_client.kept",
            len(api.ListRefresh(pb.ListRefreshReq(user_id=sub)).refresh_tokens), 1)

    r = api.RevokeRefresh(pb.RevokeRefreshReq(user_id=sub, client_id=client_id))
    c.equal("refresh.revoke.not_found", r.not_found, False)
    tokens = api.ListRefresh(pb.ListRefreshReq(user_id=sub)).refresh_tokens
    c.equal("refresh.revoke.list_empty", len(tokens), 0)
    r = api.RevokeRefresh(pb.RevokeRefreshReq(user_id=sub, client_id=client_id))
    c.equal("refresh.revoke_again.not_found", r.not_found, True)
    r = api.RevokeRefresh(pb.RevokeRefreshReq(user_id=other, client_id=client_id))
    c.equal("refresh.revoke_unknown_user.not_found", r.not_found, True)

    if args.refresh_token and args.client_secret:
        # The revoked token no longer works at the token endpoint.
        status, body = token_request(args, {"grant_type": "refresh_token",
                                            "refresh_token": args.refresh_token})
        c.equal("refresh.revoked_token_refused", (status, body.get("error")),
                (400, "invalid_grant"))


# ---------------------------------------------------------------------------------------------


def channel_for(args):
    if args.ca_cert:
        read = lambda p: open(p, "rb").read() if p else None  # noqa: E731
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca_cert),
            private_key=read(args.client_key),
            certificate_chain=read(args.client_cert),
        )
        options = []
        if args.server_name:
            options.append(("grpc.ssl_target_name_override", args.server_name))
        return grpc.secure_channel(args.addr, creds, options=options)
    return grpc.insecure_channel(args.addr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", required=True, help="host:port of the admin API")
    p.add_argument("--issuer", help="the issuer URL GetDiscovery must report")
    p.add_argument("--user-sub", help="`sub` of a user with one refresh token for --client-id")
    p.add_argument("--client-id", help="static client the user logged in with")
    p.add_argument("--client-secret", help="its secret (checks GetClient and revocation)")
    p.add_argument("--refresh-token", help="the user's refresh token (must stop working)")
    p.add_argument("--server-version", help="expected GetVersion.server")
    p.add_argument("--static-connector", help="id of a connector from the config file")
    p.add_argument("--connectors-crud", choices=["on", "off"], default="on",
                   help="whether the server runs with DEX_API_CONNECTORS_CRUD")
    p.add_argument("--ca-cert", help="CA of the server certificate (turns on TLS)")
    p.add_argument("--client-cert", help="client certificate (mutual TLS)")
    p.add_argument("--client-key", help="its key")
    p.add_argument("--server-name", help="TLS name to verify instead of the host")
    p.add_argument("--expect-refused", action="store_true",
                   help="only check that the server refuses this client (no RPC succeeds)")
    p.add_argument("--proto", default=DEFAULT_PROTO, help="path of api.proto")
    p.add_argument("--expect-fail", action="append", default=[], metavar="CHECK",
                   help="a check that fails because of a known server difference from Dex")
    args = p.parse_args()

    c = Checks(args.expect_fail)
    with tempfile.TemporaryDirectory(prefix="oxidex-api-") as out:
        pb, pb_grpc = generate_stubs(args.proto, out)
        c.check("stubs.generated", hasattr(pb_grpc, "DexStub"))
        channel = channel_for(args)
        api = Api(channel, pb, pb_grpc)

        if args.expect_refused:
            err = api.error("GetVersion", pb.VersionReq())
            c.check("transport.refused", err is not None
                    and err.code() == grpc.StatusCode.UNAVAILABLE,
                    "GetVersion succeeded" if err is None else f"{err.code().name}")
            if err is not None:
                print(f"  (GetVersion: {err.code().name}: {err.details()})", file=sys.stderr)
            return 0 if c.failed == 0 else 1

        missing = [n for n, v in (("--issuer", args.issuer), ("--user-sub", args.user_sub),
                                  ("--client-id", args.client_id)) if not v]
        if missing:
            p.error("needed: " + ", ".join(missing))
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
            c.check("transport.ready", True)
        except grpc.FutureTimeoutError:
            c.fail("transport.ready", f"no connection to {args.addr} within 30 s")
            return 1

        section(c, "server_info", server_info, api, args)
        section(c, "clients", clients, api, args)
        section(c, "passwords", passwords, api, args)
        section(c, "connectors", connectors, api, args)
        section(c, "refresh", refresh, api, args)

        every = {m.name for m in pb.DESCRIPTOR.services_by_name["Dex"].methods}
        c.check("coverage.every_rpc_called", every <= api.called,
                f"not called: {sorted(every - api.called)}")
        channel.close()

    for name in sorted(c.expected_failures - c.seen):
        c.fail(name, "listed with --expect-fail but never checked")
    print(f"# {c.passed} passed, {c.failed} failed, {c.xfailed} known server differences",
          file=sys.stderr)
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
