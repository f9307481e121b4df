"""Which transport carries each logical channel (sms, whatsapp, email)."""

from __future__ import annotations

from collections.abc import Mapping

from nightcrew.channels.base import Transport
from nightcrew.errors import ConfigurationError


class TransportRouter:
    """Maps a logical channel to the transport that delivers it, with a default for the rest."""

    def __init__(self, default: Transport, per_channel: Mapping[str, Transport] | None = None) -> None:
        self.default = default
        self.per_channel = dict(per_channel or {})

    def for_channel(self, channel: str) -> Transport:
        """The transport for ``channel``."""
        return self.per_channel.get(channel, self.default)

    def by_name(self, name: str) -> Transport:
        """A configured transport by its name."""
        for transport in (self.default, *self.per_channel.values()):
            if transport.name == name:
                return transport
        raise ConfigurationError(f"no transport named {name!r} is configured")
