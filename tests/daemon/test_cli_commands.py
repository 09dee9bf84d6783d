"""The command line as an operator uses it: exit codes and one clear line per problem."""

import hashlib

import pytest

from gatewayd.cli import build_parser


def test_check_config_accepts_the_demo(run_cli):
    result = run_cli("check-config", "config/demo.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok (1 accounts, 1 applications, 1 carriers, 1 routes)" in result.stdout


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


def test_blacklist_add_list_export_remove_from_the_command_line(run_cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/g.db'}}\n")
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
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/g.db'}}\n")
    assert run_cli("migrate", "--config", str(config)).returncode == 0
    logs = run_cli("logs", "--config", str(config), "--application", "shop")
    stats = run_cli("stats", "--config", str(config), "--application", "shop")
    assert (logs.returncode, logs.stdout, stats.returncode, stats.stdout) == (0, "", 0, "")
