"""Loading and validating the YAML configuration: every error names its key path."""

import textwrap

import pytest
import yaml

from gatewayd.config.errors import ConfigError
from gatewayd.config.loader import load_config, parse_config
from gatewayd.config.schema import Config
from gatewayd.config.secrets import hash_api_key

EXAMPLE_ENV = {
    "GATEWAYD_ADMIN_TOKEN": "admin-token",
    "GATEWAYD_ADMIN_TOKEN_ALICE": "alice-token",
    "CARRIER_A_PASSWORD": "pw",
    "SHOP_WEBHOOK_SECRET": "secret",
    "SHOP_SMPP_PASSWORD": "smpp-pw",
}

MINIMAL = """
carriers: [{name: sim, simulator: true}]
accounts:
  - name: acme
    numbers: [{number: "8686", application: shop}]
    applications:
      - name: shop
        api_keys: ["key-0123456789"]
        default_number: "8686"
"""


def problems_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(textwrap.dedent(text), environ=environ or {})
    return raised.value.problems


def test_the_example_file_is_valid_and_uses_every_key():
    config = load_config("config/gatewayd.example.yaml", environ=EXAMPLE_ENV)
    assert config.admin.token.get_secret_value() == "admin-token"
    with open("config/gatewayd.example.yaml") as file:
        example = yaml.safe_load(file)
    missing = sorted(_model_keys(Config) - _tree_keys(example))
    assert missing == [], f"config/gatewayd.example.yaml does not document: {missing}"


def test_the_demo_file_is_valid():
    config = load_config("config/demo.yaml", environ={})
    assert config.carriers[0].simulator_settings is not None
    assert config.http.listen == ["127.0.0.1:8080"]


def _model_keys(model, prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(prefix + name)
        for inner in _models_in(field.annotation):
            keys |= _model_keys(inner, f"{prefix}{name}.")
    return keys


def _models_in(annotation) -> list:
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return [annotation]
    return [m for argument in getattr(annotation, "__args__", ()) for m in _models_in(argument)]


def _tree_keys(node, prefix: str = "") -> set[str]:
    keys = set()
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(prefix + key)
            keys |= _tree_keys(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for item in node:
            keys |= _tree_keys(item, prefix)
    return keys


def test_a_minimal_file_gets_the_documented_defaults():
    config = parse_config(MINIMAL, environ={})
    assert config.database.url == "sqlite:////var/lib/gatewayd/gatewayd.db"
    assert config.database.migrates_at_start
    assert config.http.listen == ["127.0.0.1:8080"]
    app = config.accounts[0].applications[0]
    assert (app.encoding, app.max_parts, str(app.time_zone)) == ("auto", 10, "UTC")


def test_a_time_out_of_range_names_its_full_key_path():
    problems = problems_of(
        MINIMAL.replace(
            'default_number: "8686"',
            'default_number: "8686"\n        time_windows: [{start: "25:00", end: "20:00"}]',
        )
    )
    assert problems == [
        "accounts[0].applications[0].time_windows[0].start: '25:00' is not a time (HH:MM)"
    ]


def test_unquoted_yaml_times_are_read_as_times():
    config = parse_config(
        MINIMAL.replace(
            'default_number: "8686"',
            'default_number: "8686"\n        time_windows: [{start: 08:00, end: 20:30}]',
        ),
        environ={},
    )
    window = config.accounts[0].applications[0].time_windows[0]
    assert (window.start.hour, window.start.minute, window.end.minute) == (8, 0, 30)


def test_a_yaml_syntax_error_gives_its_line():
    problems = problems_of("http: {listen: [\n")
    assert len(problems) == 1 and "YAML syntax error" in problems[0] and "line" in problems[0]


def test_a_misspelt_key_is_named_with_a_suggestion():
    assert problems_of("http: {lisen: ['127.0.0.1:1']}") == [
        "http.lisen: unknown key; did you mean 'listen'?"
    ]
    assert problems_of("databse: {}")[0].startswith("databse: unknown key; did you mean 'database'")


def test_a_wrong_type_says_what_it_got():
    problems = problems_of("carriers: [{name: a, simulator: true, window: lots}]")
    assert problems[0].startswith("carriers[0].window: ") and "'lots'" in problems[0]


def test_duplicate_application_names_and_api_keys_are_refused():
    text = """
    accounts:
      - name: a
        applications:
          - {{name: shop, api_keys: ["same-key-123"]}}
      - name: b
        applications:
          - {{name: shop, api_keys: ["{}"]}}
    """.format(hash_api_key("same-key-123"))
    problems = problems_of(text)
    assert "accounts[1].applications[0].name: duplicate application name 'shop'" in problems[0]
    assert problems[1].startswith("accounts[1].applications[0].api_keys[0]: duplicate API key")
    assert "same-key-123" not in problems[1], "a key must never be printed"


def test_admin_tokens_have_names_that_differ():
    named = parse_config(
        "admin: {token: first-token, tokens: [{name: alice, token: alice-token}]}", environ={}
    )
    assert [t.name for t in named.admin.named_tokens] == ["admin", "alice"]
    (duplicate,) = problems_of("admin: {token: x, tokens: [{name: admin, token: y}]}")
    assert "admin token names must differ: admin" in duplicate
    (spaced,) = problems_of("admin: {tokens: [{name: 'bob smith', token: z}]}")
    assert spaced.startswith("admin.tokens[0].name: String should match pattern")


def test_a_route_to_an_unknown_carrier_is_refused():
    problems = problems_of(
        "carriers: [{name: a, simulator: true}]\nroutes: [{prefix: '32', carriers: [a, b]}]"
    )
    assert problems == ["routes[0].carriers[1]: no carrier named 'b'"]


def test_a_claim_lease_too_short_to_submit_within_is_refused():
    problems = problems_of(
        "database: {claim_lease_s: 40}\n"
        "carriers: [{name: a, simulator: true}, {name: b, simulator: true, response_timeout_s: 1}]"
    )
    assert problems == [
        "database.claim_lease_s: 40s leaves no time to submit to carrier 'a' "
        "(needs more than 40s with its response_timeout_s)"
    ]


def test_numbers_must_belong_to_known_applications_and_senders_to_their_application():
    text = MINIMAL.replace("application: shop}", "application: shoop}")
    problems = problems_of(text)
    assert (
        "accounts[0].numbers[0].application: account 'acme' has no application 'shoop'" in problems
    )
    assert "accounts[0].applications[0].default_number: '8686' is not one of" in problems[1]


def test_environment_references_and_secret_files(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    text = f"""
    admin: {{token: "${{TOKEN}}"}}
    carriers: [{{name: a, host: h, system_id: x, password_file: "{secret}"}}]
    """
    config = parse_config(textwrap.dedent(text), environ={"TOKEN": "t0k"})
    assert config.admin.token.get_secret_value() == "t0k"
    assert config.carriers[0].password.get_secret_value() == "s3cret"
    assert problems_of(text, environ={}) == ["admin.token: environment variable TOKEN is not set"]
    missing = problems_of(text.replace(str(secret), str(tmp_path / "none")), {"TOKEN": "t"})
    assert missing[0].startswith("carriers[0].password_file: cannot read")


def test_secrets_do_not_show_in_reprs():
    config = parse_config("admin: {token: hunter2-token}", environ={})
    assert "hunter2" not in repr(config)


def test_the_top_level_must_be_a_mapping():
    assert problems_of("- a\n- b\n") == ["<config>: the top level must be a mapping of sections"]


def test_an_unreadable_file_is_one_problem(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "missing.yaml")
    assert len(raised.value.problems) == 1 and "cannot read" in raised.value.problems[0]


def test_numbers_and_prefixes_take_ascii_digits_only():
    text = MINIMAL.replace('number: "8686"', 'number: "٨٦٨٦"', 1)
    assert problems_of(text)[0].startswith("accounts[0].numbers[0].number")
    routes = "carriers: [{name: a, simulator: true}]\nroutes: [{prefix: '٣٢', carriers: [a]}]"
    assert problems_of(routes)[0].startswith("routes[0].prefix")


def test_an_empty_environment_variable_is_a_secret_not_filled_in():
    text = 'admin: {token: "${TOKEN}"}'
    assert problems_of(text, environ={"TOKEN": ""}) == [
        "admin.token: environment variable TOKEN is empty"
    ]
