"""The replay producer: a transaction file, in time order, onto the broker."""
