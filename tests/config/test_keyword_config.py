"""Keywords and the account's STOP/START/HELP words are checked at load: each problem names
its key path, and a keyword two applications claim on one number names both."""

import textwrap

from gatewayd.config.loader import parse_config
from gatewayd.core.directory import Directory
from gatewayd.core.keywords import DEFAULT_START_WORDS, DEFAULT_STOP_WORDS
from tests.config.test_config_loading import problems_of

SHARED = """
carriers: [{{name: sim, simulator: true}}]
accounts:
  - name: acme
    blacklist: true
{account}
    numbers: [{{number: "8686", application: shop}}]
    applications:
      - name: shop
        default_number: "8686"
      - name: promo
        keywords: [{{number: "8686", words: [{promo}]}}]
      - name: deals
        default_number: "8686"
        keywords: [{{number: "{number}", words: [{deals}]}}]
"""


def shared(account: str = "", promo: str = "PROMO", deals: str = "DEALS", number: str = "8686"):
    return SHARED.format(account=account, promo=promo, deals=deals, number=number)


def test_two_applications_claiming_one_keyword_on_one_number_is_an_error_naming_both():
    assert problems_of(shared(deals="promo")) == [
        "accounts[0].applications[2].keywords[0].words[0]: keyword 'PROMO' on 8686 is claimed "
        "by both 'promo' and 'deals' (first at accounts[0].applications[1].keywords[0].words[0])"
    ]


def test_a_keyword_is_one_word_on_one_of_the_accounts_numbers():
    assert problems_of(shared(deals="two words", number="9999")) == [
        "accounts[0].applications[2].keywords[0].words[0]: 'two words' is not one "
        "word (a keyword is the first word of a message)",
    ]
    problems = problems_of(shared(number="9999"))
    assert problems == [
        "accounts[0].applications[2].default_number: '8686' is not one of the application's "
        "numbers",
        "accounts[0].applications[2].keywords[0].number: '9999' is not a number of account 'acme'",
    ]


def test_a_keyword_cannot_be_a_word_the_gateway_answers_itself():
    account = '    help_reply: "Text PROMO"\n    stop_words: [HALT]'
    assert problems_of(shared(account, promo="help", deals="Halt")) == [
        "accounts[0].applications[1].keywords[0].words[0]: 'HELP' is one of the account's help "
        "words, which the gateway answers itself",
        "accounts[0].applications[2].keywords[0].words[0]: 'HALT' is one of the account's "
        "opt-out words, which the gateway answers itself",
    ]
    assert problems_of(shared(promo="stop"))[0].endswith(
        "'STOP' is one of the account's opt-out words, which the gateway answers itself"
    )
    # Without help_reply, HELP is an ordinary message, so an application may own it.
    parse_config(textwrap.dedent(shared(promo="help")), environ={})


def test_a_text_is_one_kind_of_word_only():
    account = '    start_words: [START, stop]\n    help_words: [" start "]\n    help_reply: "hi"'
    assert problems_of(shared(account)) == [
        "accounts[0].start_words[1]: 'STOP' is already one of the account's opt-out words",
        "accounts[0].help_words[0]: 'START' is already one of the account's opt-in words",
    ]


def test_the_directory_routes_by_first_word_and_keeps_todays_words_by_default():
    config = parse_config(textwrap.dedent(shared()), environ={})
    directory = Directory(config)
    routes = {
        text: (route.app.name, route.keyword)
        for text in ("promo", " Deals! now", "promotion", "")
        for route in [directory.route_incoming("8686", text)]
    }
    assert routes == {
        "promo": ("promo", "PROMO"),
        " Deals! now": ("deals", "DEALS"),
        "promotion": ("shop", None),
        "": ("shop", None),
    }
    assert directory.by_name["deals"].numbers == {"8686"}, "it may send from the shared number"
    words = directory.route_incoming("8686", "x").words
    assert (words.stop, words.start, words.help) == (DEFAULT_STOP_WORDS, DEFAULT_START_WORDS, set())
    assert directory.route_incoming("0000", "promo").app is None
