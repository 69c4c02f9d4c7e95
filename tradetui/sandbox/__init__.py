"""A loopback exchange speaking Binance USD-M, for tests and dry runs of the live venue."""
