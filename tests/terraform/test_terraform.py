"""Offline checks of the Terraform modules under terraform/.

No Terraform binary or provider is needed: every .tf file is parsed with
python-hcl2, and the expressions of the outputs statesync users copy into
their configuration (store_url, recipient, account_url) are evaluated by a
tiny interpreter for the subset of HCL they use (string templates, ==, ?:,
references), with made-up values for the resource attributes they read.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF_ROOT = ROOT / "terraform"
MODULES = ("aws", "azure", "gcp")
TF_FILES = sorted(TF_ROOT.rglob("*.tf"))
EXAMPLES = [TF_ROOT / m / "examples" / "basic" for m in MODULES]
ROOT_MODULES = [TF_ROOT / m for m in MODULES] + EXAMPLES

PROVIDERS = {
    # module: (provider name, source, lowest major version that must be allowed)
    "aws": ("aws", "hashicorp/aws", 5),
    "azure": ("azurerm", "hashicorp/azurerm", 4),
    "gcp": ("google", "hashicorp/google", 6),
}

# What the resource attributes read by the outputs evaluate to in a real
# deployment (per the providers' documentation), as sample values.
BUCKET = "acme-statesync"
CONTAINER = "statesync"
ACCOUNT = "acmestatesync"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KV_KEY = "https://acme-kv.vault.azure.net/keys/statesync"
GCP_KEY = "projects/acme/locations/europe-west1/keyRings/statesync/cryptoKeys/statesync"
ATTRIBUTES = {
    "aws": {
        "aws_s3_bucket.this.id": BUCKET,  # the bucket name
        "aws_s3_bucket.this.bucket": BUCKET,
        "aws_kms_key.this.arn": KEY_ARN,
    },
    "azure": {
        "azurerm_storage_container.this.name": CONTAINER,
        "azurerm_storage_account.this.name": ACCOUNT,
        "azurerm_key_vault_key.this.versionless_id": KV_KEY,
    },
    "gcp": {
        "google_storage_bucket.this.name": BUCKET,
        # id of google_kms_crypto_key: {{key_ring}}/cryptoKeys/{{name}}, where
        # the key ring id is projects/P/locations/L/keyRings/R.
        "google_kms_crypto_key.this.id": GCP_KEY,
    },
}
STORE_SCHEME = {"aws": "s3", "azure": "az", "gcp": "gs"}
STORE_ROOT = {"aws": BUCKET, "azure": CONTAINER, "gcp": BUCKET}
RECIPIENT = {
    "aws": f"aws-kms:{KEY_ARN}",
    "azure": f"azure-kv:{KV_KEY}",
    "gcp": f"gcp-kms:{GCP_KEY}",
}
RECIPIENT_FORM = {
    "aws": r"aws-kms:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+",
    "azure": r"azure-kv:https://[A-Za-z0-9-]+\.vault\.azure\.net/keys/[A-Za-z0-9-]+",
    "gcp": r"gcp-kms:projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+",
}


# --------------------------------------------------------------------------
# Reading python-hcl2 output (recent versions keep the quotes of string
# literals and block labels; older ones strip them).
# --------------------------------------------------------------------------


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = hcl2.load(f)
    assert isinstance(data, dict)
    return data


def labelled(blocks: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """{name: body} for single-label blocks such as variable and output."""
    out: dict[str, dict[str, Any]] = {}
    for block in blocks or []:
        for name, body in block.items():
            if name.startswith("__"):
                continue
            out[unquote(name)] = body
    return out


def module_blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for name, body in labelled(load(path).get(kind)).items():
            assert name not in merged, f"{kind} {name} declared twice in {directory}"
            merged[name] = body
    return merged


def resources(directory: Path) -> set[str]:
    found = set()
    for path in sorted(directory.glob("*.tf")):
        for block in load(path).get("resource", []):
            for rtype, named in block.items():
                for rname in named:
                    if not rname.startswith("__"):
                        found.add(f"{unquote(rtype)}.{unquote(rname)}")
    return found


def text(value: Any) -> str:
    """A scalar attribute (description, type, ...) as plain text."""
    if isinstance(value, list) and len(value) == 1:  # very old python-hcl2
        value = value[0]
    assert isinstance(value, str), value
    return unquote(value)


def terraform_settings(directory: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in load(path).get("terraform", []):
            settings.update(block)
    return settings


# --------------------------------------------------------------------------
# A tiny evaluator for the HCL expressions used by the outputs.
# --------------------------------------------------------------------------


class Eval:
    def __init__(self, source: str, env: dict[str, str]) -> None:
        self.s = source
        self.i = 0
        self.env = env

    def error(self, msg: str) -> AssertionError:
        return AssertionError(f"{msg} at {self.i} in {self.s!r}")

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self, token: str) -> bool:
        self.ws()
        return self.s.startswith(token, self.i)

    def take(self, token: str) -> None:
        if not self.peek(token):
            raise self.error(f"expected {token!r}")
        self.i += len(token)

    def expr(self) -> Any:
        cond = self.compare()
        if self.peek("?"):
            self.take("?")
            yes = self.expr()
            self.take(":")
            no = self.expr()
            if not isinstance(cond, bool):
                raise self.error("condition is not a bool")
            return yes if cond else no
        return cond

    def compare(self) -> Any:
        left = self.primary()
        for op in ("==", "!="):
            if self.peek(op):
                self.take(op)
                right = self.primary()
                return (left == right) if op == "==" else (left != right)
        return left

    def primary(self) -> Any:
        self.ws()
        if self.peek("("):
            self.take("(")
            value = self.expr()
            self.take(")")
            return value
        if self.peek('"'):
            self.i += 1
            value = self.template('"')
            self.i += 1
            return value
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*").match(self.s, self.i)
        if not m:
            raise self.error("unsupported expression")
        self.i = m.end()
        ref = m.group(0)
        if ref not in self.env:
            raise self.error(f"unknown reference {ref}")
        return self.env[ref]

    def template(self, end: str | None) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                if end is None:
                    return "".join(out)
                raise self.error("unterminated string")
            c = self.s[self.i]
            if end is not None and c == end:
                return "".join(out)
            if self.s.startswith("${", self.i):
                self.i += 2
                value = self.expr()
                self.take("}")
                if not isinstance(value, str):
                    raise self.error("interpolated value is not a string")
                out.append(value)
            elif c == "\\":
                escaped = self.s[self.i + 1]
                out.append({"n": "\n", "t": "\t"}.get(escaped, escaped))
                self.i += 2
            else:
                out.append(c)
                self.i += 1


def evaluate(raw: str, env: dict[str, str]) -> Any:
    if raw.startswith("${") and raw.endswith("}"):
        ev = Eval(raw[2:-1], env)
        value = ev.expr()
        ev.ws()
        if ev.i != len(ev.s):
            raise ev.error("trailing input")
        return value
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    ev = Eval(raw, env)  # a bare string template
    return ev.template(None)


def output_value(module: str, name: str, prefix: str) -> Any:
    outputs = module_blocks(TF_ROOT / module, "output")
    assert name in outputs, f"terraform/{module} has no output {name}"
    raw = outputs[name]["value"]
    assert isinstance(raw, str), raw
    env = dict(ATTRIBUTES[module])
    env["var.prefix"] = prefix
    return evaluate(raw, env)


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_there_are_terraform_files() -> None:
    for module in MODULES:
        for name in ("versions.tf", "variables.tf", "main.tf", "outputs.tf", "README.md"):
            assert (TF_ROOT / module / name).is_file(), f"terraform/{module}/{name} is missing"
        assert (TF_ROOT / module / "examples" / "basic" / "main.tf").is_file()


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_every_tf_file_parses(path: Path) -> None:
    data = load(path)
    assert data, f"{path} parsed to nothing"


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("prefix", ["", "prod", "teams/platform/prod"])
def test_store_url(module: str, prefix: str) -> None:
    url = output_value(module, "store_url", prefix)
    root = f"{STORE_SCHEME[module]}://{STORE_ROOT[module]}"
    assert url == (root if prefix == "" else f"{root}/{prefix}")
    assert not url.endswith("/")


@pytest.mark.parametrize("module", MODULES)
def test_recipient(module: str) -> None:
    recipient = output_value(module, "recipient", "prod")
    assert recipient == RECIPIENT[module]
    assert re.fullmatch(RECIPIENT_FORM[module], recipient)


def test_azure_account_url() -> None:
    assert output_value("azure", "account_url", "") == f"https://{ACCOUNT}.blob.core.windows.net"


RESOURCE_REF = r"\b((?:aws|azurerm|google)_[a-z0-9_]+\.[a-z0-9_]+)\.[a-z_]+"


@pytest.mark.parametrize("module", MODULES)
def test_outputs_read_resources_of_the_module(module: str) -> None:
    declared = resources(TF_ROOT / module)
    outputs = module_blocks(TF_ROOT / module, "output")
    for name in ("store_url", "recipient", "account_url"):
        if name not in outputs:
            continue
        refs = re.findall(RESOURCE_REF, outputs[name]["value"])
        assert refs, f"output {name} of terraform/{module} reads no resource"
        for ref in refs:
            assert ref in declared, f"output {name} of terraform/{module} reads undeclared {ref}"


@pytest.mark.parametrize("module", MODULES)
def test_bucket_or_container_comes_from_variables(module: str) -> None:
    """The names in the store URL are the ones the caller chose."""
    main = (TF_ROOT / module / "main.tf").read_text(encoding="utf-8")
    expected = {
        "aws": r'resource "aws_s3_bucket" "this" \{[^}]*\bbucket\s*=\s*var\.bucket_name',
        "azure": (
            r'resource "azurerm_storage_container" "this" \{[^}]*\bname\s*=\s*var\.container_name'
        ),
        "gcp": r'resource "google_storage_bucket" "this" \{[^}]*\bname\s*=\s*var\.bucket_name',
    }[module]
    assert re.search(expected, main, re.S)


@pytest.mark.parametrize("directory", ROOT_MODULES, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_variables_have_description_and_type(directory: Path) -> None:
    variables = module_blocks(directory, "variable")
    assert variables, f"{directory} declares no variables"
    for name, body in variables.items():
        assert "description" in body, f"variable {name} in {directory} has no description"
        description = text(body["description"]).strip()
        assert len(description) >= 10, f"variable {name}: description too short"
        assert "type" in body, f"variable {name} in {directory} has no type"


@pytest.mark.parametrize("directory", ROOT_MODULES, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_outputs_have_description(directory: Path) -> None:
    outputs = module_blocks(directory, "output")
    assert {"store_url", "recipient"} <= set(outputs), f"{directory} lacks store_url or recipient"
    for name, body in outputs.items():
        assert "description" in body, f"output {name} in {directory} has no description"
        assert len(text(body["description"]).strip()) >= 10, f"output {name}: description too short"


def _lowest_version(constraint: str) -> tuple[int, ...]:
    lows = re.findall(r">=\s*([0-9]+(?:\.[0-9]+)*)", constraint)
    assert lows, f"constraint {constraint!r} has no lower bound"
    return max(tuple(int(p) for p in v.split(".")) for v in lows)


@pytest.mark.parametrize("module", MODULES)
def test_versions_are_pinned(module: str) -> None:
    for directory in (TF_ROOT / module, TF_ROOT / module / "examples" / "basic"):
        settings = terraform_settings(directory)
        required = text(settings["required_version"])
        assert _lowest_version(required) >= (1, 5), required

        name, source, major = PROVIDERS[module]
        providers: dict[str, Any] = {}
        for block in settings["required_providers"]:
            providers.update(block)
        assert name in providers, f"{directory} does not require provider {name}"
        provider = providers[name]
        assert text(provider["source"]) == source
        constraint = text(provider["version"])
        low = _lowest_version(constraint)
        assert low[0] == major, f"{name} constraint {constraint!r} must start at major {major}"
        upper = re.findall(r"<\s*([0-9]+)", constraint)
        assert upper, f"{name} constraint {constraint!r} has no upper bound"


@pytest.mark.parametrize("module", MODULES)
def test_example_calls_the_module(module: str) -> None:
    example = TF_ROOT / module / "examples" / "basic"
    calls = module_blocks(example, "module")
    assert calls, f"{example} calls no module"
    sources = {text(body["source"]) for body in calls.values()}
    assert sources == {"../.."}
    outputs = module_blocks(example, "output")
    for name in ("store_url", "recipient"):
        assert f".{name}" in str(outputs[name]["value"])


PREFIX_GOOD = ["", "prod", "teams/platform", "a.b/c-d_e", "x/y/z"]
PREFIX_BAD = ["/prod", "prod/", "a//b", "/", "a b", "a/../b", "./a", "a/.", "é"]


def _prefix_ok(condition: str) -> Any:
    """Evaluate the prefix validation: the regex with Python's re (the
    pattern uses only syntax RE2 and re share) and the dot-segment rule."""
    m = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition)
    assert m, condition
    pattern = m.group(1).encode().decode("unicode_escape")
    assert 'alltrue([for s in split("/", var.prefix) : s != "." && s != ".."])' in condition

    def check(prefix: str) -> bool:
        if prefix == "":
            return 'var.prefix == ""' in condition
        segments_ok = all(s not in (".", "..") for s in prefix.split("/"))
        return bool(re.search(pattern, prefix)) and segments_ok

    return check


@pytest.mark.parametrize("module", MODULES)
def test_prefix_validation(module: str) -> None:
    variables = module_blocks(TF_ROOT / module, "variable")
    body = variables["prefix"]
    assert text(body["default"]) == ""
    validations = body["validation"]
    assert len(validations) == 1
    check = _prefix_ok(validations[0]["condition"])
    for good in PREFIX_GOOD:
        assert check(good), f"prefix {good!r} should be accepted"
    for bad in PREFIX_BAD:
        assert not check(bad), f"prefix {bad!r} should be rejected"


SKIP_RE = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z]+_\d+)(?::(.*))?")


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_checkov_skips_have_reasons(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if "checkov" not in line:
            continue
        m = SKIP_RE.search(line)
        assert m, f"{path}:{number}: malformed checkov comment: {line.strip()}"
        reason = (m.group(2) or "").strip()
        assert len(reason) >= 30, f"{path}:{number}: skip of {m.group(1)} needs a written reason"


def test_tf_files_are_not_state_or_secrets() -> None:
    for path in TF_ROOT.rglob("*"):
        assert not path.name.endswith((".tfstate", ".tfstate.backup", ".tfvars")), path


# --------------------------------------------------------------------------
# What a user copies: statesync.toml and the environment variables
# --------------------------------------------------------------------------

REGION = "eu-west-1"
PROJECT = "acme"
ENVIRONMENT = {
    "aws": {"AWS_REGION": REGION},
    "azure": {"AZURE_STORAGE_ACCOUNT_URL": f"https://{ACCOUNT}.blob.core.windows.net"},
    "gcp": {"GOOGLE_CLOUD_PROJECT": PROJECT},
}


def _env_for(module: str, prefix: str) -> dict[str, str]:
    env = dict(ATTRIBUTES[module])
    env |= {"var.prefix": prefix, "var.project_id": PROJECT, "aws_s3_bucket.this.region": REGION}
    if module == "aws":
        env["local.store_url"] = output_value("aws", "store_url", prefix)
    return env


def _heredoc(raw: str) -> str:
    """The template of a ``<<-EOT`` heredoc as python-hcl2 returns it, dedented."""
    import textwrap

    m = re.fullmatch(r'"?<<-?EOT\n(.*)\n\s*EOT"?', raw, re.S)
    assert m, raw
    return textwrap.dedent(m.group(1)) + "\n"


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("prefix", ["", "prod"])
def test_statesync_toml_output_is_a_ready_config(module: str, prefix: str) -> None:
    import tomllib

    from statesync.backends import parse_url

    outputs = module_blocks(TF_ROOT / module, "output")
    env = _env_for(module, prefix)
    text = Eval(_heredoc(outputs["statesync_toml"]["value"]), env).template(None)
    config = tomllib.loads(text)
    assert config == {
        "store": output_value(module, "store_url", prefix),
        "keys": {"recipients": [output_value(module, "recipient", prefix)]},
    }
    assert parse_url(config["store"]).scheme == STORE_SCHEME[module]


@pytest.mark.parametrize("module", MODULES)
def test_environment_and_shell_exports_outputs(module: str) -> None:
    outputs = module_blocks(TF_ROOT / module, "output")
    env = _env_for(module, "prod")
    raw = outputs["environment"]["value"]
    environment = {k: evaluate(v, env) for k, v in raw.items()}
    assert environment == ENVIRONMENT[module]
    exports = evaluate(outputs["shell_exports"]["value"], env)
    assert exports == "".join(f"export {k}={v}\n" for k, v in environment.items())


def _resource(directory: Path, rtype: str, name: str) -> dict[str, Any]:
    for path in sorted(directory.glob("*.tf")):
        for block in load(path).get("resource", []):
            for found_type, named in block.items():
                if unquote(found_type) == rtype:
                    for found_name, body in named.items():
                        if unquote(found_name) == name:
                            assert isinstance(body, dict)
                            return body
    raise AssertionError(f"{directory} declares no {rtype}.{name}")


def test_azure_store_key_allows_only_wrap_and_unwrap() -> None:
    key = _resource(TF_ROOT / "azure", "azurerm_key_vault_key", "this")
    assert sorted(unquote(o) for o in key["key_opts"]) == ["unwrapKey", "wrapKey"]
    base = "Microsoft.KeyVault/vaults/keys/"
    want = {
        "key_unwrap": {f"{base}read", f"{base}unwrap/action"},
        "key_wrap": {f"{base}read", f"{base}wrap/action", f"{base}unwrap/action"},
    }
    for name, actions in want.items():
        role = _resource(TF_ROOT / "azure", "azurerm_role_definition", name)
        (permissions,) = role["permissions"]
        assert {unquote(a) for a in permissions["data_actions"]} == actions
        assert "actions" not in permissions
    rbac = (TF_ROOT / "azure" / "rbac.tf").read_text(encoding="utf-8")
    # The built-in Key Vault Crypto User would also allow encrypt, decrypt, sign, verify.
    assert not re.search(r'role_definition_name\s*=\s*"Key Vault Crypto User"', rbac)
