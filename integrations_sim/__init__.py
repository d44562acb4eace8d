"""A simulator of the integration services (BlackList, ML, products "Abram", client data "Casper") over
real HTTP, with control endpoints for latency, faults and verdicts. See ``app`` for the API."""
