"""The command line as an operator uses it: exit codes and one clear line per problem."""

import hashlib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from gatewayd.cli import DEFAULT_CONFIG, EXIT_BROKEN_PIPE, build_parser
from gatewayd.config.loader import load_config
from gatewayd.storage.engine import open_engine
from gatewayd.storage.tables import blacklist, quota_counters
from tests.daemon.conftest import ROOT, child_environment, gatewayd_command


def test_check_config_accepts_the_demo(run_cli):
    result = run_cli("check-config", "config/demo.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok (1 accounts, 3 applications, 1 carriers, 1 routes)" in result.stdout


def test_check_config_names_each_problem_without_a_traceback(run_cli, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("http: {lisen: []}\ncarriers: [{name: a}]\n")
    result = run_cli("check-config", str(broken))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"gatewayd: {broken}: http.lisen: unknown key; did you mean 'listen'?",
        f"gatewayd: {broken}: carriers[0]: host and system_id are required unless simulator is set",
    ]
    assert "Traceback" not in result.stderr


def test_hash_key_hashes_standard_input(run_cli):
    result = run_cli("hash-key", stdin="my-secret-key-1\n")
    assert result.returncode == 0
    assert result.stdout.strip() == "sha256:" + hashlib.sha256(b"my-secret-key-1").hexdigest()


def test_hash_key_generates_a_key_and_its_hash(run_cli):
    result = run_cli("hash-key", "--generate")
    key_line, hash_line = result.stdout.strip().splitlines()
    key = key_line.split()[-1]
    assert hash_line.split()[-1] == "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def test_hash_key_refuses_a_short_key(run_cli):
    result = run_cli("hash-key", stdin="short\n")
    assert result.returncode == 2 and "at least 8 characters" in result.stderr


def test_migrate_brings_a_new_sqlite_database_to_head(run_cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/db/g.db'}}\n")
    result = run_cli("migrate", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "database schema at revision" in result.stdout
    assert (tmp_path / "db" / "g.db").exists()


@pytest.mark.parametrize("command", sorted(build_parser()._subparsers._group_actions[0].choices))
def test_every_command_has_help(run_cli, command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: gatewayd " + command)


ONE_APPLICATION = """
accounts:
  - name: acme
    applications: [{name: shop, api_keys: ["shop-key-0123456789"]}]
"""


def migrated_config(run_cli, directory: Path) -> Path:
    config = directory / "c.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{directory}/g.db'}}\n{ONE_APPLICATION}")
    assert run_cli("migrate", "--config", str(config)).returncode == 0
    return config


def test_blacklist_add_list_export_remove_from_the_command_line(run_cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/g.db'}}\n{ONE_APPLICATION}")
    assert run_cli("migrate", "--config", str(config)).returncode == 0
    common = ["--config", str(config), "--account", "acme"]
    added = run_cli("blacklist", "add", *common, "+32470000001", "--note", "phoned")
    assert added.returncode == 0 and added.stdout.strip() == "32470000001: added"
    assert (
        run_cli("blacklist", "add", *common, "32470000001")
        .stdout.strip()
        .endswith("already listed")
    )
    listing = run_cli("blacklist", "list", *common).stdout
    assert listing.startswith("32470000001  cli") and listing.rstrip().endswith("phoned")
    export = run_cli("blacklist", "export", *common).stdout.splitlines()
    assert export[0] == "msisdn,source,note,time_created" and export[1].startswith("32470000001,")
    assert run_cli("blacklist", "remove", *common, "32470000001").stdout.strip().endswith("removed")
    assert run_cli("blacklist", "list", *common).stdout == ""
    bad = run_cli("blacklist", "add", *common, "12")
    assert bad.returncode == 1 and "not a phone number" in bad.stderr


def test_logs_and_stats_commands_read_the_database(run_cli, tmp_path):
    config = migrated_config(run_cli, tmp_path)
    logs = run_cli("logs", "--config", str(config), "--application", "shop")
    stats = run_cli("stats", "--config", str(config), "--application", "shop")
    assert (logs.returncode, logs.stdout, stats.returncode, stats.stdout) == (0, "", 0, "")


def test_stats_prints_what_is_left_of_each_quota(run_cli, tmp_path):
    config = tmp_path / "c.yaml"
    limits = "trial: {quota: 5}, quota: {messages_per_day: 10}"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path}/g.db'}}\n"
        + ONE_APPLICATION.replace('api_keys: ["shop-key-0123456789"]', f"api_keys: [], {limits}")
    )
    assert run_cli("migrate", "--config", str(config)).returncode == 0
    today = datetime.now(UTC).date()
    engine = open_engine(load_config(config).database)
    with engine.begin() as connection:
        connection.execute(
            insert(quota_counters).values(
                counter="application:shop:messages:day", period=today.isoformat(), used=3
            )
        )
    engine.dispose()
    stats = run_cli("stats", "--config", str(config), "--application", "shop")
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.splitlines() == [
        "quota trial shop messages per trial: 5 of 5 left",
        "quota application shop messages per day: 7 of 10 left, "
        f"resets {today + timedelta(days=1)}T00:00Z",
    ]


def test_output_cut_short_by_its_reader_ends_quietly(run_cli, tmp_path):
    """`gatewayd ... | head`: no BrokenPipeError traceback, the status a shell gives SIGPIPE."""
    config = migrated_config(run_cli, tmp_path)
    engine = open_engine(load_config(config).database)
    listed = datetime(2026, 12, 7, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(blacklist),
            [
                {"account": "acme", "msisdn": f"3247{n:07d}", "source": "cli", "note": "x" * 60}
                | {"time_created": listed}
                for n in range(5000)
            ],
        )
    engine.dispose()
    listing = subprocess.Popen(
        gatewayd_command("blacklist", "list", "--config", str(config), "--account", "acme"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_environment(),
        cwd=ROOT,
    )
    assert listing.stdout is not None and listing.stderr is not None
    assert listing.stdout.readline().startswith(b"32470000000  cli")
    listing.stdout.close()
    errors = listing.stderr.read().decode()
    assert listing.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert errors == ""


def run_elsewhere(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`gatewayd ARGS` from another working directory, without GATEWAYD_CONFIG unless given."""
    environment = child_environment(**env)
    if "GATEWAYD_CONFIG" not in env:
        environment.pop("GATEWAYD_CONFIG", None)
    return subprocess.run(
        gatewayd_command(*args),
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=directory,
    )


def test_the_operator_commands_take_their_file_from_gatewayd_config(run_cli, tmp_path):
    config = migrated_config(run_cli, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (
        ["blacklist", "list", "--account", "acme"],
        ["logs", "--application", "shop"],
        ["stats", "--application", "shop"],
        ["check-config"],
    ):
        result = run_elsewhere(elsewhere, *command, GATEWAYD_CONFIG=str(config))
        assert result.returncode == 0, (command, result.stderr)


def test_without_a_configuration_file_the_error_is_one_line(tmp_path):
    for command in (
        ["blacklist", "list", "--account", "acme"],
        ["logs", "--application", "shop"],
        ["stats", "--application", "shop"],
    ):
        result = run_elsewhere(tmp_path, *command, GATEWAYD_CONFIG=str(tmp_path / "none.yaml"))
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"gatewayd: {tmp_path / 'none.yaml'}: no such configuration file "
            "(give --config FILE or set GATEWAYD_CONFIG)"
        ]
    if not DEFAULT_CONFIG.exists():
        default = run_elsewhere(tmp_path, "stats", "--application", "shop")
        assert default.returncode == 1 and default.stderr.splitlines() == [
            f"gatewayd: {DEFAULT_CONFIG}: no such configuration file "
            "(give --config FILE or set GATEWAYD_CONFIG)"
        ]


@pytest.mark.parametrize("command", ["stats", "logs", "blacklist"])
def test_a_database_never_migrated_is_one_line_naming_gatewayd_migrate(run_cli, tmp_path, command):
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/g.db'}}\n{ONE_APPLICATION}")
    arguments = {
        "stats": ["stats", "--application", "shop"],
        "logs": ["logs", "--application", "shop"],
        "blacklist": ["blacklist", "list", "--account", "acme"],
    }[command]
    absent = run_cli(*arguments, "--config", str(config))
    assert absent.returncode == 1 and "Traceback" not in absent.stderr
    assert absent.stderr.splitlines() == [
        f"gatewayd: no database at {tmp_path}/g.db: run `gatewayd migrate`"
    ]
    (tmp_path / "g.db").touch()
    empty = run_cli(*arguments, "--config", str(config))
    assert empty.returncode == 1 and empty.stderr.splitlines() == [
        "gatewayd: the database has no gatewayd schema: run `gatewayd migrate`"
    ]


def test_an_unknown_account_or_application_is_an_error(run_cli, tmp_path):
    config = migrated_config(run_cli, tmp_path)
    for command, problem in (
        (["blacklist", "list", "--account", "acm"], "no account 'acm'"),
        (["blacklist", "add", "--account", "acm", "32470000001"], "no account 'acm'"),
        (["logs", "--application", "shp"], "no application 'shp'"),
        (["stats", "--application", "shp"], "no application 'shp'"),
    ):
        result = run_cli(*command, "--config", str(config))
        assert result.returncode == 1, command
        (line,) = result.stderr.splitlines()
        assert problem in line and line.startswith("gatewayd: "), line
        assert result.stdout == ""


def test_a_relative_sqlite_path_starts_at_the_configuration_files_directory(
    run_cli, tmp_path, monkeypatch
):
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "c.yaml"
    config.write_text(f"database: {{url: 'sqlite:///../data/g.db'}}\n{ONE_APPLICATION}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert run_elsewhere(elsewhere, "migrate", "--config", str(config)).returncode == 0
    assert (tmp_path / "data" / "g.db").exists() and not (elsewhere / "data").exists()
    stats = run_elsewhere(elsewhere, "stats", "--config", str(config), "--application", "shop")
    assert stats.returncode == 0, stats.stderr
    monkeypatch.chdir(tmp_path)
    demo = load_config(ROOT / "config" / "demo.yaml")
    assert demo.database.url == f"sqlite:///{ROOT}/var/gatewayd.db"
