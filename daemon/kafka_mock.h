/* kafka_mock.h -- an in-process Kafka-protocol broker (librdkafka's mock cluster).
 *
 * Used by `pipewatch demo` (a broker users can `kcat -P` into without
 * installing Kafka) and by `pipewatch kafka-mock`, which the integration tests
 * run as a separate process so that pipewatch talks to it over TCP like to any
 * broker. Known limits of librdkafka 2.0.2's mock: it keeps only ~5 MB per
 * partition (large streams need ~100 partitions), offsets committed to it are
 * lost when it exits, and the first group join takes ~3 s.
 */
#ifndef PW_KAFKA_MOCK_H
#define PW_KAFKA_MOCK_H

#include <stddef.h>

typedef struct pw_kmock pw_kmock;

/* Start a cluster of nbrokers brokers on loopback. NULL with errbuf on failure. */
pw_kmock *pw_kmock_start(int nbrokers, char *errbuf, size_t errlen);
/* Create a topic with `partitions` partitions (replication 1). 0/-1. */
int pw_kmock_topic(pw_kmock *k, const char *topic, int partitions, char *errbuf, size_t errlen);
const char *pw_kmock_bootstrap(const pw_kmock *k); /* "127.0.0.1:PORT,..." borrowed */
/* Take broker id (1-based; -1 all) down or up. 0/-1. */
int pw_kmock_broker_down(pw_kmock *k, int id);
int pw_kmock_broker_up(pw_kmock *k, int id);
void pw_kmock_stop(pw_kmock *k); /* accepts NULL */

#endif
