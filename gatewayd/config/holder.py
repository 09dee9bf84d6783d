"""The running configuration, swapped atomically on reload (SIGHUP)."""

import logging
from dataclasses import dataclass
from pathlib import Path

import trio

from gatewayd.config.errors import ConfigError
from gatewayd.config.loader import load_config
from gatewayd.config.schema import Config
from gatewayd.core.directory import Directory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One loaded configuration and the lookups derived from it; never changes."""

    config: Config
    directory: Directory
    generation: int


class ConfigHolder:
    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self.current = Snapshot(config, Directory(config), 1)
        self._changed = trio.Event()

    async def reload(self) -> bool:
        """Load the file again; swap it in if valid, keep the running one (and log) if not."""
        try:
            config = await trio.to_thread.run_sync(load_config, self.path)
        except ConfigError as error:
            for problem in error.problems:
                log.error("reload refused, keeping the running configuration: %s", problem)
            return False
        self.current = Snapshot(config, Directory(config), self.current.generation + 1)
        self._changed.set()
        self._changed = trio.Event()
        log.info(
            "configuration reloaded from %s (generation %d)", self.path, self.current.generation
        )
        return True

    async def wait_changed(self) -> Snapshot:
        await self._changed.wait()
        return self.current
