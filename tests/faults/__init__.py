"""The fault suite (issue 18): the whole stack as real subprocesses under steady traffic while a seeded
scheduler injects faults (processes killed, Redis failovers, PostgreSQL crashes, provider and integration
outages, clock skew under libfaketime, dropped sockets, logouts), then an invariant checker reads PostgreSQL,
the provider simulator and the integrations simulator.

``processes`` runs the servers and the product's processes, ``bots`` and ``traffic`` are the floor,
``faults`` the schedule and the injectors, ``invariants`` the checks, ``suite`` puts them together (used by
``bench/faults.py`` for the full run and by ``test_fault_suite.py`` for the CI-sized one)."""
