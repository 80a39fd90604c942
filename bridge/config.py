"""The TOML schema and loader: every problem is reported with its key path, all at once."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from tpbridge.adapters.base import Adapter, ChannelSettings, Secret, secret_value
from tpbridge.bridge.automation.settings import AutomationSettings, TeamSettings
from tpbridge.bridge.crypto import Codec, KeyProblem, parse_key
from tpbridge.bridge.crypto import load as load_codec

DEFAULT_PATH = "tpbridge.toml"


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BridgeSection(_Section):
    data_dir: Path = Path("data")
    config_dir: Path = Path("config")
    log_level: str = "info"
    log_format: str = "auto"  # "auto" (console on a TTY, JSON otherwise) | "json" | "console"

    @field_validator("log_format")
    @classmethod
    def _fmt(cls, v: str) -> str:
        if v not in ("auto", "json", "console"):
            raise ValueError('must be "auto", "json" or "console"')
        return v

    @field_validator("log_level")
    @classmethod
    def _lvl(cls, v: str) -> str:
        if v.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError('must be "debug", "info", "warning" or "error"')
        return v.lower()


class StoreSection(_Section):
    url: str = "sqlite:///data/tpbridge.db"
    # 32 random bytes, base64 (`openssl rand -base64 32`), usually "env:NAME" or "file:/path" (bridge/crypto.py)
    encryption_key: Secret | None = None
    old_encryption_keys: list[Secret] = []  # readable, never written: while `tpbridge key rotate` runs

    @field_validator("encryption_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("env:", "file:")):
            try:
                parse_key(v)
            except KeyProblem as exc:
                raise ValueError(str(exc).removeprefix("store.encryption_key: ")) from None
        return v

    @field_validator("old_encryption_keys")
    @classmethod
    def _old_keys(cls, v: list[str]) -> list[str]:
        for key in v:
            try:
                parse_key(key)
            except KeyProblem as exc:
                raise ValueError(str(exc).removeprefix("store.old_encryption_keys: ")) from None
        return v

    def codec(self) -> Codec | None:
        """The codec for these keys, or None when encryption is off."""
        return load_codec(self.encryption_key, self.old_encryption_keys)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError('must be a "sqlite:///path" or a "postgresql://user:pass@host:port/db" URL')
        return v


class HttpSection(_Section):
    listen: str = "127.0.0.1:8080"
    public_url: str = "http://127.0.0.1:8080"
    max_text_bytes: int = Field(64 * 1024, gt=0)
    max_attachment_bytes: int = Field(25 * 1024 * 1024, gt=0)
    max_files: int = Field(10, gt=0)  # files per reply (multipart)
    max_upload_bytes: int | None = Field(None, gt=0)  # all files of one reply; default 4 x max_attachment_bytes
    session_days: int = Field(14, gt=0)
    # A client has this long to send a request's headers (also the idle keep-alive limit): slow
    # clients cannot hold connections open for minutes.
    header_timeout: float = Field(15.0, gt=0, le=3600)
    # /metrics: open on `listen` unless one of these is set (see README, Security).
    metrics_token: Secret | None = None  # then /metrics needs "Authorization: Bearer <token>"
    metrics_listen: str | None = None  # then /metrics is served only there, e.g. "127.0.0.1:9101"
    # Load balancers / reverse proxies whose X-Forwarded-For is believed (addresses or networks):
    # then limits and the audit log see the client's address, not the proxy's (bridge/web/client_address.py).
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. \"10.0.0.0/8\")") from None
        return v

    @property
    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies]

    @field_validator("listen", "metrics_listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError('must be "host:port", e.g. "127.0.0.1:8080"')
        return v

    @field_validator("public_url")
    @classmethod
    def _public(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class AttachmentsSection(_Section):
    """Where attachment files live: `data_dir/attachments` (default) or an S3-compatible bucket
    (AWS S3, MinIO, Ceph RGW, ...) shared by every instance (README, Running more than one instance)."""

    backend: Literal["folder", "s3"] = "folder"
    bucket: str | None = None
    prefix: str = ""  # keys are <prefix>/<2 chars>/<name>, as in the folder
    endpoint_url: str | None = None  # MinIO, Ceph, ...: path-style addressing; unset: AWS
    region: str | None = None
    # "env:NAME" or "file:/path" (or inline); both unset: boto3's own chain (AWS_* variables, an instance role)
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return v.strip("/")

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError('must start with http:// or https://, e.g. "http://minio.internal:9000"')
        return v.rstrip("/") if v else v

    @field_validator("access_key_id", "secret_access_key")
    @classmethod
    def _secret(cls, v: str | None, info: ValidationInfo) -> str | None:
        # resolved only when the bucket is in use: the folder backend needs none of its variables
        return secret_value(v) if v is not None and info.data.get("backend") == "s3" else v

    @model_validator(mode="after")
    def _complete(self) -> AttachmentsSection:
        if self.backend == "s3":
            if not self.bucket:
                raise ValueError('backend "s3" needs a bucket')
            if (self.access_key_id is None) != (self.secret_access_key is None):
                raise ValueError("access_key_id and secret_access_key go together (or neither, for boto3's own chain)")
        return self

    def __repr_args__(self) -> Any:  # the resolved credentials never reach a log or a traceback
        return [(k, "***" if k in ("access_key_id", "secret_access_key") and v else v)
                for k, v in super().__repr_args__()]


class PrivacySection(_Section):
    retain_days: int = Field(0, ge=0)  # 0: keep until erased; else resolved conversations older are erased daily


class _Root(_Section):
    bridge: BridgeSection = BridgeSection()
    store: StoreSection = StoreSection()
    http: HttpSection = HttpSection()
    privacy: PrivacySection = PrivacySection()
    attachments: AttachmentsSection = AttachmentsSection()
    automation: AutomationSettings = AutomationSettings()
    teams: dict[str, TeamSettings] = {}
    channels: dict[str, dict[str, dict[str, Any]]] = {}


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    kind: str
    name: str  # the inbox key: "telegram.main"
    settings: ChannelSettings
    adapter_class: type


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    base_dir: Path
    bridge: BridgeSection
    store: StoreSection
    http: HttpSection
    automation: AutomationSettings
    teams: dict[str, TeamSettings]
    channels: tuple[ChannelConfig, ...]
    privacy: PrivacySection = field(default_factory=PrivacySection)
    attachments: AttachmentsSection = field(default_factory=AttachmentsSection)

    @property
    def data_dir(self) -> Path:
        return self.bridge.data_dir if self.bridge.data_dir.is_absolute() else self.base_dir / self.bridge.data_dir

    @property
    def config_dir(self) -> Path:
        d = self.bridge.config_dir
        return d if d.is_absolute() else self.base_dir / d

    @property
    def enabled_channels(self) -> tuple[ChannelConfig, ...]:
        return tuple(c for c in self.channels if c.settings.enabled)


def adapter_entry_points() -> dict[str, EntryPoint]:
    """Built-in and third-party adapters by channel kind, all through the `tpbridge.adapters` group.

    Only the kinds a config uses are imported (by `_load_adapter`).
    """
    return {ep.name: ep for ep in entry_points(group="tpbridge.adapters")}


def _load_adapter(ep: EntryPoint, problems: list[str], key: str) -> type[Adapter] | None:
    try:
        cls: type[Adapter] = ep.load()
    except Exception as exc:
        problems.append(f"{key}: the {ep.name} adapter cannot be loaded ({type(exc).__name__}: {exc})")
        return None
    if not hasattr(cls, "Settings"):
        problems.append(f"{key}: the {ep.name} adapter is not available in this version")
        return None
    return cls


def describe(err: Any, prefix: tuple[Any, ...] = ()) -> str:
    """One pydantic error as `dotted.key: message`, in words a config author understands."""
    loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg = "is required"
    elif kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        msg = "must be " + " or ".join(f'"{o}"' for o in options)
    else:
        msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def parse(raw: dict[str, Any], path: Path) -> Config:
    problems: list[str] = []
    channels_raw = raw.get("channels", {})
    root_input = {k: v for k, v in raw.items() if k != "channels"}
    try:
        root = _Root.model_validate(root_input)
    except ValidationError as exc:
        problems.extend(describe(e) for e in exc.errors())
        root = None
    channels: list[ChannelConfig] = []
    if not isinstance(channels_raw, dict):
        problems.append("channels: must be a table of channel kinds")
        channels_raw = {}
    known = adapter_entry_points()
    for kind, accounts in channels_raw.items():
        key = f"channels.{kind}"
        if kind not in known:
            problems.append(f"{key}: unknown channel kind (known: {', '.join(sorted(known))})")
            continue
        if not isinstance(accounts, dict) or not all(isinstance(v, dict) for v in accounts.values()):
            problems.append(f"{key}: must hold named tables, e.g. [{key}.main]")
            continue
        cls = _load_adapter(known[kind], problems, key) if accounts else None
        if cls is None:
            continue
        for name, table in accounts.items():
            enabled = table.get("enabled", True)
            try:
                settings = cls.Settings.model_validate(table, context={"resolve_secrets": enabled is not False})
            except ValidationError as exc:
                problems.extend(describe(e, ("channels", kind, name)) for e in exc.errors())
                continue
            channels.append(ChannelConfig(kind, f"{kind}.{name}", settings, cls))
    if root is not None and root.automation.enabled:
        base = root.bridge.config_dir if root.bridge.config_dir.is_absolute() else path.parent / root.bridge.config_dir
        for key in ("faq_dir", "templates_dir"):
            folder = base / getattr(root.automation, key)
            if not folder.is_dir() or not any(folder.glob("*.toml")):
                problems.append(f"automation.{key}: no *.toml files in {folder} (see [bridge].config_dir)")
    if problems or root is None:
        raise ConfigError(problems)
    return Config(
        path=path, base_dir=path.parent, bridge=root.bridge, store=root.store, http=root.http,
        automation=root.automation, teams=root.teams, channels=tuple(channels), privacy=root.privacy,
        attachments=root.attachments,
    )


def load(path: str | os.PathLike[str] | None = None) -> Config:
    p = Path(path or os.environ.get("TPBRIDGE_CONFIG") or DEFAULT_PATH).resolve()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: no such config file (give one with -c PATH or $TPBRIDGE_CONFIG)"]) from None
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read ({exc.strerror})"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p.name}: not valid TOML: {exc}"]) from None
    return parse(raw, p)
