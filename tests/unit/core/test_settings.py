from __future__ import annotations

import pytest

from backend.core.settings import WEB_REQUIRES, Settings, SettingsError, _fields, markdown_table

BASE = {"DATABASE_URL": "postgresql://u:secretpw@db/x", "REDIS_URL": "redis://r:6379/0", "JWT_SECRET": "k" * 32}


def test_defaults():
    s = Settings.from_env(BASE, require=WEB_REQUIRES)
    assert s.port == 8000
    assert s.result_window_seconds == 60
    assert s.operator_timezone == "Europe/Moscow"
    assert s.allowed_origins == ()


@pytest.mark.parametrize(("env", "fragment"), [
    ({"JWT_SECRET": ""}, "JWT_SECRET is not set"),
    ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
    ({"PORT": "eighty"}, "PORT=eighty is invalid: must be a number"),
    ({"PORT": "70000"}, "PORT=70000 is invalid: must be between 1 and 65535"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL=http://x is invalid"),
    ({"OPERATOR_TIMEZONE": "Mars/Base"}, "OPERATOR_TIMEZONE=Mars/Base is invalid"),
    ({"SESSION_IDLE_TIMEOUT": "100", "SESSION_ABSOLUTE_TIMEOUT": "50"}, "SESSION_IDLE_TIMEOUT is invalid"),
])
def test_errors_name_the_variable(env, fragment):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, **env}, require=WEB_REQUIRES)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_secrets_are_not_echoed():
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "JWT_SECRET": "tooshort"}, require=WEB_REQUIRES)
    assert "tooshort" not in str(info.value)
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "DATABASE_URL": "mysql://u:secretpw@db/x"}, require=WEB_REQUIRES)
    assert "secretpw" not in str(info.value)


def test_only_required_variables_are_required():
    s = Settings.from_env({"DATABASE_URL": BASE["DATABASE_URL"]}, require=("DATABASE_URL",))
    assert s.jwt_secret == ""


def test_origins_list_and_docs_table():
    s = Settings.from_env({**BASE, "ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    table = markdown_table()
    assert "| `JWT_SECRET` | (required) |" in table


def test_docs_table_states_every_limit():
    table = markdown_table()
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines()[2:]}
    assert "*Limits:* at least 32 characters when set." in rows["TELEPHONY_WEBHOOK_SECRET"]
    assert "*Limits:* at least 32 characters." in rows["JWT_SECRET"]
    assert "*Limits:* 1 to 65535." in rows["PORT"]
    assert "*Limits:* 1024 to 67108864." in rows["MAX_REQUEST_BODY_BYTES"]
    assert "at most SESSION_ABSOLUTE_TIMEOUT" in rows["SESSION_IDLE_TIMEOUT"]
    assert "a URL starting with postgresql:// or postgres://" in rows["DATABASE_URL"]
    assert "one of DEBUG, INFO, WARNING, ERROR" in rows["LOG_LEVEL"]
    for name, (_, meta) in _fields().items():  # every bounded field says its bounds
        if meta.ge is not None or meta.le is not None or meta.pattern is not None:
            assert "*Limits:*" in rows[name.upper()], name
    short = {**BASE, "TELEPHONY_WEBHOOK_SECRET": "x" * 31}
    with pytest.raises(SettingsError, match="TELEPHONY_WEBHOOK_SECRET"):
        Settings.from_env(short)
