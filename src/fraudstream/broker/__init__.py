"""The Kafka-protocol broker: the embedded Tansu process and topic administration."""
