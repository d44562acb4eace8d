"""Clients of the outside services the campaign filter cascade asks about leads: BlackList, ML, products
("Abram") and client data ("Casper"). The cascade (``backend.rules``) uses only ``api.Integrations``."""
