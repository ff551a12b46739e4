"""The ClickHouse store: one DSN (embedded chDB or a server), its engine server, cluster topology, migrations."""
