"""`kind: stream`: tables drained from message brokers (Redis Streams, NATS JetStream, ...).

One folder: `config` (the catalog model), `brokers` (each broker's settings and opener, over
the ground-floor adapters in `resources.streams`), `reader` (messages to Arrow, dead letters,
positions), `assets` (the Dagster wiring: assets, lag observations, sensors).
"""
