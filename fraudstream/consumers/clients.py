"""What a consumer talks to, made by the composition root and handed to the loop."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, Producer
from google.cloud import storage

from fraudstream.consumers.email_sending import Mailer
from fraudstream.kafka import CommitReplies
from fraudstream.paysim.avro_codec import RecordDecoder


@dataclass(frozen=True)
class ConsumerClients:
    """What a consumer talks to; the loop closes them when it stops."""

    consumer: Consumer  # subscribed by the loop, configured by ``kafka.consumer_config``
    dead_letter_producer: Producer
    bucket: storage.Bucket  # the lake
    mailer: Mailer | None  # None: fill the lake without emailing anyone
    decoder: RecordDecoder
    commit_replies: CommitReplies | None = None  # the consumer's ``on_commit``, if it is one

    def close(self) -> None:
        self.consumer.close()
        self.dead_letter_producer.flush(30)
        if self.mailer is not None:
            self.mailer.close()
