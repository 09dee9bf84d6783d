"""Which carriers may take a message: the longest matching prefix's list, in order."""

from gatewayd.config.schema import Config


class Routes:
    def __init__(self, config: Config) -> None:
        routes = {route.prefix: route.carriers for route in config.routes}
        if not routes:
            routes = {"": [carrier.name for carrier in config.carriers]}
        self._by_prefix = sorted(routes.items(), key=lambda item: len(item[0]), reverse=True)

    def carriers_for(self, msisdn: str) -> list[str]:
        for prefix, carriers in self._by_prefix:
            if msisdn.startswith(prefix):
                return carriers
        return []
