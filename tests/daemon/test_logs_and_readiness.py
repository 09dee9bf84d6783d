"""JSON-lines logging, and /readyz turning 503 when the database stops answering."""

import json
import logging
from pathlib import Path

import httpx
import trio

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import parse_config
from gatewayd.config.schema import DatabaseConfig, LoggingConfig
from gatewayd.core.message_service import MessageService
from gatewayd.core.submission import Submitter
from gatewayd.daemon import Runtime
from gatewayd.logs import JsonLinesFormatter, setup_logging
from gatewayd.metrics import Metrics
from gatewayd.protocols.http.service import serve_api
from gatewayd.sd_notify import Notifier
from gatewayd.storage.engine import open_engine
from gatewayd.storage.writer import Writer


def test_json_lines_carry_level_logger_message_and_extras():
    record = logging.makeLogRecord(
        {
            "name": "gatewayd.smpp",
            "levelname": "WARNING",
            "msg": "bind %s lost",
            "args": ("a",),
            "carrier": "carrier-a",
        }
    )
    line = json.loads(JsonLinesFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "gatewayd.smpp"
    assert line["message"] == "bind a lost" and line["carrier"] == "carrier-a"
    assert line["time"].endswith("+00:00")


def test_setup_logging_switches_format(capsys):
    setup_logging(LoggingConfig(format="json", level="INFO"))
    logging.getLogger("gatewayd.test").info("hello")
    assert json.loads(capsys.readouterr().err.strip())["message"] == "hello"
    setup_logging(LoggingConfig())


async def test_readyz_is_503_while_the_database_does_not_answer(nursery):
    config = parse_config('http: {listen: ["127.0.0.1:0"]}', environ={})
    engine = open_engine(DatabaseConfig(url="postgresql://nobody@127.0.0.1:9/none"))
    holder, writer = ConfigHolder(Path("unused.yaml"), config), Writer(engine)
    runtime = Runtime(holder, engine, writer, Metrics(), Notifier({}), "test")
    submitter = Submitter(engine, writer, runtime.clock)
    runtime.service = MessageService(holder, engine, writer, submitter, runtime.clock)
    addresses = await nursery.start(serve_api, runtime)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{addresses[0][1]}") as client:
        with trio.fail_after(10):
            ready = await client.get("/readyz")
        assert ready.status_code == 503 and "127.0.0.1:9" in ready.json()["reason"]
        assert (await client.get("/healthz")).status_code == 200
    runtime.stop_requested.set()
    engine.dispose()
