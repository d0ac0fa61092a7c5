"""One module per API resource: its blueprint, its routes and the marshmallow schemas beside them."""
