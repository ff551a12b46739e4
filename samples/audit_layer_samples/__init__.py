"""Sample audit events and data sets built with the real enricher and chain code, for the tests and the
benchmarks alike (a package both import; tests are not a library). Not part of any distribution."""
