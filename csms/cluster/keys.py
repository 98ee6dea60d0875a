"""Names of the Redis keys and channels of one cluster, all under its prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    @property
    def owners(self) -> str:
        """Hash: station id -> the link's owner record (see `wire.OwnerRecord`)."""
        return f"{self.prefix}:owners"

    def node(self, node_id: str) -> str:
        """A node's liveness lease: its stations' ownership is valid while this exists."""
        return f"{self.prefix}:node:{node_id}"

    def commands(self, node_id: str) -> str:
        """Channel on which a node takes commands for the stations it holds."""
        return f"{self.prefix}:cmd:{node_id}"

    def replies(self, node_id: str) -> str:
        """Channel on which a node receives the answers to the commands it relayed."""
        return f"{self.prefix}:reply:{node_id}"

    def leader(self, role: str) -> str:
        """The lease of a role's leader: "node token"."""
        return f"{self.prefix}:leader:{role}"

    def epoch(self, role: str) -> str:
        """The role's fencing counter: incremented at every new leadership."""
        return f"{self.prefix}:epoch:{role}"

    @property
    def replans(self) -> str:
        """Channel carrying replan requests (reasons) to the planner's leader."""
        return f"{self.prefix}:replan"

    def kicks(self, node_id: str) -> str:
        """Channel telling a node that a station it holds connected elsewhere since."""
        return f"{self.prefix}:kick:{node_id}"
