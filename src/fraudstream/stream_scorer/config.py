"""Configuration of the Faust stream scorer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class StreamConfig(BaseModel):
    """How the scorer consumes, batches, waits for labels and follows the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The Faust app id: the consumer group of every worker.
    app_id: Annotated[str, Field(min_length=1)] = "fraudstream-scorer"
    #: Largest micro-batch (``stream.take``) and how long to wait to fill it.
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 2000
    batch_within_seconds: Annotated[float, Field(gt=0, le=60)] = 0.02
    #: The consumer's fetch wait (Faust hard-codes 1,500 ms; a broker that does not wake a
    #: waiting fetch on new data, like Tansu, adds about half of it to every hop).
    fetch_max_wait_ms: Annotated[int, Field(ge=1, le=10_000)] = 50
    #: Most bytes one fetch answer may carry, all partitions together. Some brokers (Tansu)
    #: ignore the per-partition limit and answer one partition's whole backlog (measured: 10,019
    #: records of one partition and 52 of another in one answer), which runs that partition days
    #: ahead of the others; a total limit makes them answer every partition alike.
    fetch_max_bytes: Annotated[int, Field(ge=1024, le=52_428_800)] = 1_048_576
    #: A short session makes a group (re)join take seconds rather than half a minute.
    session_timeout_seconds: Annotated[float, Field(ge=1, le=300)] = 6.0
    heartbeat_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    #: Longest wait for the labels watermark to pass a batch's event time before scoring anyway:
    #: longer than a group rebalance (session timeout + join), so that a crashed worker holding
    #: the labels partition delays scoring rather than making it miss labels.
    label_wait_max_seconds: Annotated[float, Field(ge=0, le=600)] = 15.0
    #: Longest a transaction is held back because another partition is behind in event time
    #: (stream_scorer/alignment.py): longer than a group rebalance, so that a crashed worker's
    #: partitions are taken over before the others run ahead of them.
    partition_wait_max_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    #: How often the worker asks the registry whether the champion changed.
    model_refresh_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    #: Reasons (largest exact contributions) attached to an alert.
    top_reasons: Annotated[int, Field(ge=1, le=23)] = 3
    #: Largest raw event accepted; a larger one goes to the dead-letter topic.
    max_event_bytes: Annotated[int, Field(ge=256)] = 65_536
    #: Port of the worker's web server (Faust's; 0 = none).
    web_port: Annotated[int, Field(ge=0, le=65_535)] = 0


__all__ = ["StreamConfig"]
