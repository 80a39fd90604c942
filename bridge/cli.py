"""The `tpbridge` command. Errors are one clear line naming the cause and the key, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from tpbridge.bridge import config as config_mod
from tpbridge.bridge import logs
from tpbridge.bridge.audit import Audit
from tpbridge.bridge.audit import verify as audit_verify
from tpbridge.bridge.crypto import KeyProblem
from tpbridge.bridge.model import Agent, Role
from tpbridge.bridge.store import open_store
from tpbridge.bridge.store.protocol import ApiToken, Store

T = TypeVar("T")


class CliError(Exception):
    """Exit 1 with this message."""


def _load(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(args.config)


def _with_store(cfg: config_mod.Config, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(cfg.store.url, cfg.base_dir, cfg.store.codec())
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())


def cmd_check(args: argparse.Namespace) -> int:
    cfg = _load(args)
    enabled = ", ".join(c.name for c in cfg.enabled_channels) or "none"
    print(f"{cfg.path}: ok (inboxes enabled: {enabled})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    logs.setup(cfg.bridge.log_level, cfg.bridge.log_format)
    from tpbridge.bridge.daemon import StartError, serve

    try:
        return asyncio.run(serve(cfg))
    except StartError as exc:
        raise CliError(str(exc)) from None


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password again: "):
            raise CliError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_agent_add(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from tpbridge.bridge.web.auth import hash_password

    password = _read_password()
    if len(password) < 8:
        raise CliError("password: at least 8 characters")
    teams = [t for group in args.team or [] for t in group.split(",") if t]
    langs = [x.strip() for x in (args.lang or "").split(",") if x.strip()]

    async def add(store: Store) -> Any:
        if await store.agent_by_email(args.email) is not None:
            raise CliError(f"agent {args.email} already exists")
        return await store.add_agent(args.email, args.name, Role(args.role), hash_password(password), teams, langs)

    agent = _with_store(cfg, add)
    print(f"agent {agent.email} added (id {agent.id}, {agent.role.value}); log in at {cfg.http.public_url}/",
          file=sys.stderr)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from tpbridge.bridge.web.auth import digest, new_token

    token = new_token()
    if args.expires_days is not None and args.expires_days <= 0:
        raise CliError("--expires-days: must be a positive number of days")
    expires_at = time.time() + args.expires_days * 86400 if args.expires_days else None

    async def add(store: Store) -> None:
        agent = await _agent(store, args.email)
        await store.create_token(agent.id, digest(token), args.label, expires_at)
        await Audit(store).record("token_create", object=f"agent:{agent.id}", address="cli", label=args.label)

    _with_store(cfg, add)
    print(token)
    return 0


async def _agent(store: Store, email: str) -> Agent:
    found = await store.agent_by_email(email)
    if found is None:
        raise CliError(f"no agent {email} (create one with: tpbridge agent add {email} --name ...)")
    return found[0]


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else "-"


def cmd_token_list(args: argparse.Namespace) -> int:
    cfg = _load(args)

    async def tokens(store: Store) -> list[ApiToken]:
        return await store.list_tokens((await _agent(store, args.email)).id)

    rows = _with_store(cfg, tokens)
    print(f"{'ID':>6}  {'CREATED':20}  {'LAST USED':20}  {'EXPIRES':20}  LABEL")
    for t in rows:
        print(f"{t.id:>6}  {_when(t.created_at):20}  {_when(t.last_used_at):20}  {_when(t.expires_at):20}  "
              f"{t.label or ''}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    cfg = _load(args)
    async def revoke(store: Store) -> bool:
        token = await store.get_token(args.token_id)
        if token is None or not await store.revoke_token(args.token_id):
            return False
        await Audit(store).record("token_revoke", object=f"agent:{token.agent_id}", address="cli",
                                  token_id=args.token_id)
        return True

    if not _with_store(cfg, revoke):
        raise CliError(f"no token {args.token_id} (see: tpbridge token list EMAIL)")
    print(f"token {args.token_id} revoked", file=sys.stderr)
    return 0


def cmd_contact_export(args: argparse.Namespace) -> int:
    cfg = _load(args)
    async def export(store: Store) -> dict[str, Any] | None:
        data = await store.export_contact(args.contact_id)
        if data is not None:
            await Audit(store).record("contact_export", object=f"contact:{args.contact_id}", address="cli",
                                      by="staff")
        return data

    data = _with_store(cfg, export)
    if data is None:
        raise CliError(f"no contact {args.contact_id}")
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def cmd_contact_forget(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from tpbridge.bridge.attachments import open_attachments
    from tpbridge.bridge.desk import Desk, NotFound
    from tpbridge.bridge.events import EventBus

    async def forget(store: Store) -> int:
        # The same code as DELETE /api/v1/contacts/{id}; a running daemon learns of it on its next read.
        try:
            # file names need the store's key
            files = open_attachments(cfg.attachments, cfg.data_dir, getattr(store, "codec", None))
            count = await Desk(store, EventBus(), files).forget(args.contact_id)
        except NotFound:
            raise CliError(f"no contact {args.contact_id}") from None
        await Audit(store).record("contact_forget", object=f"contact:{args.contact_id}", address="cli", by="staff")
        return count

    count = _with_store(cfg, forget)
    print(f"contact {args.contact_id} erased ({count} conversations)", file=sys.stderr)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    cfg = _load(args)
    _with_store(cfg, lambda s: s.backup(args.path))
    print(f"backup written to {args.path}", file=sys.stderr)
    return 0


def cmd_key_rotate(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if cfg.store.codec() is None:
        raise KeyProblem("store.encryption_key: not set (the key to encrypt the store under)")
    from tpbridge.bridge.attachments import open_attachments
    from tpbridge.bridge.privacy import rekey

    def progress(p: Any) -> None:
        if isinstance(p, str):
            print(p, file=sys.stderr)
        elif p.table is not None:
            print(f"{p.table}: {p.done}/{p.total}", file=sys.stderr)

    async def rotate(store: Store) -> bool:
        files = open_attachments(cfg.attachments, cfg.data_dir, getattr(store, "codec", None))
        return await rekey.run_pass(store, files, cfg.data_dir, progress, batch=args.batch)

    did = _with_store(cfg, rotate)
    print("re-encrypted under the current key" if did else "nothing to do: the store is under the current key",
          file=sys.stderr)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    cfg = _load(args)
    count, broken = _with_store(cfg, audit_verify)
    if broken is not None:
        print(f"audit trail broken at entry {broken.entry_id}: {broken.reason} ({count} entries before it intact)")
        return 1
    print(f"audit trail intact: {count} entries")
    return 0


def cmd_store_copy(args: argparse.Namespace) -> int:
    from tpbridge.bridge.store import copy as store_copy

    try:
        base = _load(args).base_dir  # relative sqlite:/// paths are relative to the config, as in [store]
    except config_mod.ConfigError:
        base = Path.cwd()
    try:
        copied = store_copy.copy(args.from_url, args.to_url, base, store_copy.bar())
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"copied {sum(copied.values())} rows in {len(copied)} tables", file=sys.stderr)
    return 0


def cmd_attachments_upload(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if cfg.attachments.backend != "s3":
        raise CliError('attachments.backend: not "s3" — configure the bucket in [attachments] first')
    from tpbridge.bridge.attachments import AttachmentStoreUnavailable
    from tpbridge.bridge.attachments.s3 import ObjectStore

    def progress(done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            print(f"{done}/{total} files", file=sys.stderr)

    bucket = ObjectStore(cfg.attachments)  # names and sealed bytes go as they are: no key needed
    try:
        copied, skipped = bucket.upload_folder(cfg.data_dir / "attachments", progress)
    except AttachmentStoreUnavailable as exc:
        raise CliError(f"{exc} (run the command again: what was copied is skipped)") from None
    print(f"{copied} files copied to {bucket.where()}, {skipped} already there", file=sys.stderr)
    return 0


CONFIG_HELP = "config file (default ./tpbridge.toml or $TPBRIDGE_CONFIG)"


class CommandParser(argparse.ArgumentParser):
    """Every command level takes -c/--config, so it may stand before or after the subcommand.

    Below the top the option's default is SUPPRESS: a subcommand that was not given -c leaves the value
    the top level parsed (or its default) alone instead of overwriting it with None.
    """

    def __init__(self, *args: Any, top: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("-c", "--config", default=None if top else argparse.SUPPRESS, help=CONFIG_HELP)


def version() -> str:
    try:
        return metadata.version("tpbridge")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="tpbridge", description="Multi-channel customer-support bridge", top=True)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT").set_defaults(fn=cmd_run)
    sub.add_parser("check", help="validate the config").set_defaults(fn=cmd_check)
    agent = sub.add_parser("agent", help="manage agents").add_subparsers(dest="agent_cmd", required=True)
    add = agent.add_parser("add", help="create an agent (password from stdin when not a TTY)")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=["admin", "agent"], default="agent")
    add.add_argument("--team", action="append", help="team name (repeat, or comma-separated)")
    add.add_argument("--lang", help="languages the agent answers in, e.g. zh,en")
    add.set_defaults(fn=cmd_agent_add)
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_cmd", required=True)
    create = token.add_parser("create", help="print a new API token for an agent (only its hash is stored)")
    create.add_argument("email")
    create.add_argument("--label", default=None)
    create.add_argument("--expires-days", type=int, default=None, help="the token stops working after N days")
    create.set_defaults(fn=cmd_token_create)
    listing = token.add_parser("list", help="an agent's tokens: id, created, last used, expiry")
    listing.add_argument("email")
    listing.set_defaults(fn=cmd_token_list)
    revoke = token.add_parser("revoke", help="end one token now")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(fn=cmd_token_revoke)
    contact = sub.add_parser("contact", help="a person's data").add_subparsers(dest="contact_cmd", required=True)
    exp = contact.add_parser("export", help="print everything stored about a contact as JSON")
    exp.add_argument("contact_id", type=int)
    exp.set_defaults(fn=cmd_contact_export)
    forget = contact.add_parser("forget", help="erase a contact everywhere")
    forget.add_argument("contact_id", type=int)
    forget.set_defaults(fn=cmd_contact_forget)
    from tpbridge.bridge.automation.commands import add_contact_commands

    add_contact_commands(contact)  # tier
    backup = sub.add_parser("backup", help="a consistent online copy of the store")
    backup.add_argument("path")
    backup.set_defaults(fn=cmd_backup)
    key = sub.add_parser("key", help="encryption at rest").add_subparsers(dest="key_cmd", required=True)
    rotate = key.add_parser("rotate", help="re-encrypt the store under the current encryption_key (resumable)")
    rotate.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    rotate.set_defaults(fn=cmd_key_rotate)
    store = sub.add_parser("store", help="the store itself").add_subparsers(dest="store_cmd", required=True)
    store_copy = store.add_parser("copy", help="copy a whole store (e.g. SQLite to PostgreSQL), resumable")
    store_copy.add_argument("from_url", metavar="FROM_URL", help="sqlite:///path or postgresql://...")
    store_copy.add_argument("to_url", metavar="TO_URL", help="sqlite:///path or postgresql://...")
    store_copy.set_defaults(fn=cmd_store_copy)
    attachments = sub.add_parser("attachments", help="attachment files").add_subparsers(
        dest="attachments_cmd", required=True)
    attachments.add_parser("upload", help="copy data_dir/attachments into the [attachments] bucket (resumable)"
                           ).set_defaults(fn=cmd_attachments_upload)
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_cmd", required=True)
    audit.add_parser("verify", help="check the hash chain: exit 0 intact, 1 naming the first broken entry"
                     ).set_defaults(fn=cmd_audit_verify)
    from tpbridge.bridge.automation.commands import add_commands

    add_commands(sub)  # train, eval
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The store, attachments, quarantined mail and backups hold people's data: readable by this user
    # only (files 0600, folders 0700), also when not run under systemd's UMask=0077.
    os.umask(0o077)
    if args.command != "run":
        logs.setup("warning", "console")
    fn: Callable[[argparse.Namespace], int] = args.fn
    try:
        return fn(args)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except KeyProblem as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"tpbridge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: one line, not a traceback
        print(f"tpbridge: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
