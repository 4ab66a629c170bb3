"""Configuration of the Kafka-protocol broker connection and the topics of the stream."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicsConfig(_Section):
    """The topics of the stream (created up front by ``fraudstream topics create``)."""

    #: Transactions to score, keyed by ``CUSTOMER_ID`` (a card's events stay in one partition).
    transactions: str = "transactions"
    #: Labels when they become known, and the producer's "labels complete through" watermarks.
    labels: str = "labels"
    #: One score event per transaction (de-duplicable by ``TRANSACTION_ID``).
    scores: str = "scores"
    #: Score events at or above the model's threshold, with their top reasons.
    alerts: str = "alerts"
    #: Events the scorer could not accept: the raw bytes and the reason.
    dlq: str = "transactions.dlq"

    def all(self) -> tuple[str, ...]:
        """Every topic name, transactions first."""
        return (self.transactions, self.labels, self.scores, self.alerts, self.dlq)

    def tagged(self, tag: str) -> TopicsConfig:
        """The same topics with ``-{tag}`` appended: a run's own set on a shared broker."""
        return TopicsConfig(**{name: f"{topic}-{tag}" for name, topic in self.model_dump().items()})


class KafkaConfig(_Section):
    """Where the broker is and how the topics are laid out.

    Any Kafka-protocol broker works: Apache Kafka, Redpanda, or the embedded Tansu that
    ``fraudstream broker start`` runs (``FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS`` points elsewhere).
    """

    bootstrap_servers: Annotated[str, Field(min_length=1)] = "127.0.0.1:9092"
    client_id: str = "fraudstream"
    #: Partitions of ``transactions`` (the parallelism of the scorer); other topics get as many.
    partitions: Annotated[int, Field(ge=1, le=1024)] = 4
    #: The labels topic has one partition: its order is the order labels became known.
    label_partitions: Annotated[int, Field(ge=1, le=1)] = 1
    replication_factor: Annotated[int, Field(ge=1)] = 1
    topics: TopicsConfig = TopicsConfig()

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().removeprefix("kafka://").rpartition(":")
            if not sep or not host or not port.isdigit():
                msg = f"bootstrap server {server.strip()!r} is not host:port"
                raise ValueError(msg)
        return value

    def servers(self) -> list[str]:
        """The bootstrap servers as ``host:port`` strings."""
        return [s.strip().removeprefix("kafka://") for s in self.bootstrap_servers.split(",")]


__all__ = ["KafkaConfig", "TopicsConfig"]
