"""Operator management and release tasks from the command line (`tm-admin` or `python -m backend.cli`).

Needs only DATABASE_URL; unset, it takes the run command's (.data/run.env, written while `python3 dev.py run`
runs) and says so. Passwords are never taken from arguments (they would show in `ps` and shell
history): they are prompted for, or read from standard input with --password-stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec

from backend.auth.passwords import MIN_PASSWORD_LENGTH, hash_sync
from backend.core.db import init_connection
from backend.core.errors import AppError
from backend.core.migrate import migrate
from backend.core.settings import load_or_exit
from backend.dev.embedded import RUN_ENV, read_run_env
from backend.operators import queries, service
from backend.operators.schemas import CreateOperatorRequest

DEMO_USERS: tuple[tuple[str, str, str, str, str], ...] = (
    # login, password, role, first name, last name
    ("operator1", "operator1-demo", "operator", "Анна", "Смирнова"),
    ("operator2", "operator2-demo", "operator", "Иван", "Петров"),
    ("supervisor1", "supervisor1-demo", "supervisor", "Ольга", "Кузнецова"),
    ("admin1", "admin1-demo", "admin", "Админ", "Системный"),
)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise SystemExit("passwords differ")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SystemExit(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _run_command_database() -> None:
    """DATABASE_URL unset: use the one of a running `python3 dev.py run` (its embedded database), saying so."""
    if os.environ.get("DATABASE_URL"):
        return
    url = read_run_env().get("DATABASE_URL")
    if url:
        os.environ["DATABASE_URL"] = url
        print(f"DATABASE_URL is not set: using the run command's database (from {RUN_ENV})", file=sys.stderr)


async def _connect() -> asyncpg.Pool:
    _run_command_database()
    settings = load_or_exit(require=("DATABASE_URL",))
    try:
        return await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2,
                                         timeout=settings.dependency_timeout, init=init_connection)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise SystemExit(f"cannot reach PostgreSQL: {type(exc).__name__}: {exc}") from None


async def _operator_id(pool: asyncpg.Pool, login: str) -> int:
    row = await queries.get_by_login(pool, login)
    if row is None:
        raise SystemExit(f"no operator with login {login!r}")
    return int(row["id"])


async def cmd_migrate(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    async with pool.acquire() as conn:
        applied = await migrate(conn)
    print(f"migrations applied: {', '.join(map(str, applied))}" if applied else "database schema is current")


DEMO_CLIENTS: tuple[tuple[str, str, str, str, str, str], ...] = (
    # last, first, middle, latin first, latin last, citizenship
    ("Ибрагимова", "Шахноза", "Рустамовна", "Shakhnoza", "Ibragimova", "Узбекистан"),
    ("Бекишов", "Айдарбек", "Кубанычбекович", "Aidarbek", "Bekishov", "Киргизия"),
    ("Смирнов", "Алексей", "Игоревич", "Aleksei", "Smirnov", "Россия"),
    ("Кузнецова", "Мария", "Павловна", "Maria", "Kuznetsova", "Россия"),
    ("Алиев", "Рустам", "Тимурович", "Rustam", "Aliev", "Таджикистан"),
)


DEMO_CLIENT_COUNT = 20


async def _seed_demo_campaign(pool: asyncpg.Pool) -> tuple[int, int]:
    """A campaign whose description is the operator's script, and clients with applications to call.

    Idempotent (the run command seeds on every start): the demo clients are a fixed set (phones
    79990000000…19), each task and product is inserted only if missing, and a task already called (DONE)
    stays DONE. Returns (clients added now, demo clients still waiting for a call)."""
    async with pool.acquire() as conn, conn.transaction():
        # The upsert also locks the campaign row: two seeders at once run one after the other.
        campaign = await conn.fetchval(
            """INSERT INTO campaigns (name, description) VALUES ('Доведи до займа', $1)
               ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description RETURNING id""",
            "Поздоровайтесь, представьтесь. Клиент не завершил заявку на займ: узнайте, что помешало, "
            "и предложите помощь с документами. Если клиент согласен — договоритесь о времени.")
        added = 0
        phones = [f"7999{i:07d}" for i in range(DEMO_CLIENT_COUNT)]
        for i, phone in enumerate(phones):
            last, first, middle, first_en, last_en, citizenship = DEMO_CLIENTS[i % len(DEMO_CLIENTS)]
            info = {"lastName": last, "firstName": first, "middleName": middle, "firstNameEn": first_en,
                    "lastNameEn": last_en, "citizenship": citizenship,
                    "birthDate": f"{1 + i % 27:02d}.0{1 + i % 9}.199{i % 10}"}
            task = await conn.fetchval(  # campaign_tasks_phone_idx
                """INSERT INTO campaign_tasks (campaign_id, phone, client_info, task_time)
                   SELECT $1::bigint, $2::text, $3::jsonb, now()
                    WHERE NOT EXISTS (SELECT 1 FROM campaign_tasks WHERE phone = $2::text AND campaign_id = $1::bigint)
                   RETURNING id""",
                campaign, phone, info)
            added += task is not None
            await conn.execute(  # client_products_phone_idx
                """INSERT INTO client_products (phone, do_id, start_time, end_time, status, product,
                       requested_amount, approved_amount, term, term_unit, grace, grace_unit, filling, is_current,
                       device_os, interest_rate)
                   SELECT $1::text, $2::text, now() - interval '2 days', now() + interval '28 days',
                          '{"dictionaryKey":"registered","dictionaryValue":"Зарегистрирована"}',
                          '{"dictionaryKey":"express","dictionaryValue":"Микрозайм"}', $3::bigint, $4::bigint, 21,
                          '{"dictionaryKey":"day","dictionaryValue":"дней"}', 7,
                          '{"dictionaryKey":"day","dictionaryValue":"дней"}', $5::jsonb, true,
                          '{"dictionaryKey":"ANDROID","dictionaryValue":"Android"}', 80
                    WHERE NOT EXISTS (SELECT 1 FROM client_products WHERE phone = $1::text AND do_id = $2::text)""",
                phone, str(34697463 + i), 2_500_000 + 100_000 * i, 2_000_000,
                [{"name": "Селфи/ДУЛ", "status": "ERROR",
                  "errors": [{"errorDescription": "Плохое качество", "advice": "Дождитесь фокусировки камеры"}]}])
        waiting = int(await conn.fetchval(
            """SELECT count(*) FROM campaign_tasks
                WHERE campaign_id = $1 AND phone = ANY($2::text[]) AND task_state <> 'DONE'""", campaign, phones))
        return added, waiting


async def cmd_seed_demo(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    for login, password, role, first, last in DEMO_USERS:
        if await queries.get_by_login(pool, login) is None:
            password_hash = await asyncio.to_thread(hash_sync, password)
            await service.create(pool, login=login, password_hash=password_hash, role=role,
                                 first_name=first, last_name=last)
    added, waiting = await _seed_demo_campaign(pool)
    print("demo users present: " + ", ".join(f"{u[0]}/{u[1]} ({u[2]})" for u in DEMO_USERS))
    print(f"demo campaign: {DEMO_CLIENT_COUNT} clients ({added} added now), {waiting} still to be called")


async def cmd_create_user(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    password = _read_password(args)
    try:
        data = msgspec.convert({"login": args.login, "password": password, "role": args.role,
                                "firstName": args.first_name, "lastName": args.last_name}, CreateOperatorRequest)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid input: {exc}") from None
    password_hash = await asyncio.to_thread(hash_sync, data.password)
    row = await service.create(pool, login=data.login, password_hash=password_hash, role=data.role,
                               first_name=data.first_name, last_name=data.last_name)
    print(f"created {row['role']} {row['login']} (id {row['id']})")


async def cmd_lock(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    _, ended = await service.set_locked(pool, await _operator_id(pool, args.login), True)
    print(f"locked {args.login}; {ended} session(s) ended")


async def cmd_unlock(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    await service.set_locked(pool, await _operator_id(pool, args.login), False)
    print(f"unlocked {args.login}")


async def cmd_set_password(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    operator_id = await _operator_id(pool, args.login)
    password_hash = await asyncio.to_thread(hash_sync, _read_password(args))
    _, ended = await service.set_password_hash(pool, operator_id, password_hash)
    print(f"password of {args.login} changed; {ended} session(s) ended")


async def cmd_end_sessions(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    ended, _ = await service.end_sessions(pool, await _operator_id(pool, args.login))
    print(f"{ended} session(s) of {args.login} ended")


async def cmd_import_leads(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    from backend.leads.cli import import_leads

    await import_leads(pool, load_or_exit(require=("DATABASE_URL",)), args)


async def cmd_gen_leads(pool: asyncpg.Pool | None, args: argparse.Namespace) -> None:
    from backend.leads.cli import gen_leads

    gen_leads(load_or_exit(require=()), args)


async def cmd_import_dnc(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    from pathlib import Path

    from backend.rules.service import import_dnc

    text = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8-sig")
    stored = await import_dnc(pool, text, None)  # a bad line: AppError naming it, nothing stored
    print(f"{stored} do-not-call entr{'y' if stored == 1 else 'ies'} stored")


async def cmd_exchange_demo(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    import json

    from backend.exchange.service import demo_client

    print(json.dumps(await demo_client(pool, args.push_url, "Доведи до займа")))


async def cmd_list_users(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    for row in await queries.list_all(pool, role=None, team_id=None, limit=10000, offset=0):
        flag = " LOCKED" if row["locked"] else ""
        print(f"{row['id']:>6} {row['login']:<24} {row['role']:<10} {row['live_sessions']} live session(s){flag}")


Command = Callable[[asyncpg.Pool, argparse.Namespace], Awaitable[None]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tm-admin", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Command, help_text: str, *, login: bool = False,
            password: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        if login:
            p.add_argument("login")
        if password:
            p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        return p

    add("migrate", cmd_migrate, "apply pending database migrations")
    add("seed-demo", cmd_seed_demo, "create the demo users and the demo campaign if missing (idempotent)")
    create = add("create-user", cmd_create_user, "create an operator, supervisor or admin", login=True,
                 password=True)
    create.add_argument("--role", choices=["operator", "supervisor", "analyst", "admin"], default="operator")
    create.add_argument("--first-name", required=True)
    create.add_argument("--last-name", required=True)
    add("lock", cmd_lock, "lock an account and end its sessions", login=True)
    add("unlock", cmd_unlock, "unlock an account", login=True)
    add("set-password", cmd_set_password, "set a new password and end the sessions", login=True, password=True)
    add("end-sessions", cmd_end_sessions, "end every session of an account", login=True)
    add("list-users", cmd_list_users, "list accounts")
    imp = add("import-leads", cmd_import_leads, "import a lead file (CSV or XLSX) now, with a progress bar")
    imp.add_argument("file", help="the CSV or XLSX file; it stays where it is, its error report is written beside it")
    imp.add_argument("--stream", required=True, help="the stream (MOBILE_LOANS or its folder name mobile_loans)")
    imp.add_argument("--import-valid-rows", action="store_true",
                     help="import the valid rows of a file with bad rows (default: the stream's setting)")
    dnc = add("import-dnc", cmd_import_dnc, "import a do-not-call CSV (phone,until,reason): all lines or none")
    dnc.add_argument("file", help="UTF-8 CSV; until empty = permanent, else an ISO time with its zone")
    demo = add("exchange-demo", cmd_exchange_demo,
               "the demo integration client (demo-crm, the demo campaign) and a new API key for it, as JSON")
    demo.add_argument("--push-url", help="where its outcomes are pushed (none: polling only)")
    gen = add("gen-leads", cmd_gen_leads, "write a realistic lead file (Russian names, valid phones and dates)")
    gen.set_defaults(needs_db=False)
    gen.add_argument("count", type=int, help="rows")
    gen.add_argument("--bad-fraction", type=float, default=0.0, help="fraction of rows with one fault each (0..1)")
    gen.add_argument("--out", help="file to write (default leads-<count>.csv here)")
    gen.add_argument("--into-stream", help="drop it into this stream's folder under LEADS_DIR instead")
    gen.add_argument("--delimiter", choices=[";", ","], default=";")
    gen.add_argument("--encoding", choices=["utf-8", "utf-8-sig", "windows-1251"], default="utf-8")
    gen.add_argument("--header", choices=["ru", "en"], default="ru", help="Russian titles or English codes")
    gen.add_argument("--seed", type=int, help="random seed (the same seed, the same file)")
    return parser


async def _run(args: argparse.Namespace) -> None:
    if not getattr(args, "needs_db", True):
        await args.func(None, args)
        return
    pool = await _connect()
    try:
        func: Any = args.func
        await func(pool, args)
    except AppError as exc:
        raise SystemExit(exc.message) from None
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
