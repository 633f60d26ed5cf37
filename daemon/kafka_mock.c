/* kafka_mock.c -- wrapper over rd_kafka_mock_cluster_new.
 *
 * The mock cluster needs an rd_kafka_t for its bookkeeping; we create a
 * producer handle that is never used to produce. The cluster runs on its own
 * librdkafka threads; this wrapper only starts, configures and stops it.
 */
#include "kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

struct pw_kmock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
};

pw_kmock *pw_kmock_start(int nbrokers, char *errbuf, size_t errlen) {
    pw_kmock *k = calloc(1, sizeof *k);
    if (!k) { snprintf(errbuf, errlen, "out of memory"); return NULL; }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!k->rk) { rd_kafka_conf_destroy(conf); free(k); return NULL; }
    k->mc = rd_kafka_mock_cluster_new(k->rk, nbrokers);
    if (!k->mc) {
        snprintf(errbuf, errlen, "rd_kafka_mock_cluster_new failed");
        rd_kafka_destroy(k->rk);
        free(k);
        return NULL;
    }
    return k;
}

int pw_kmock_topic(pw_kmock *k, const char *topic, int partitions, char *errbuf, size_t errlen) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(k->mc, topic, partitions, 1);
    if (err) { snprintf(errbuf, errlen, "creating topic '%s': %s", topic, rd_kafka_err2str(err)); return -1; }
    return 0;
}

const char *pw_kmock_bootstrap(const pw_kmock *k) { return rd_kafka_mock_cluster_bootstraps(k->mc); }

int pw_kmock_broker_down(pw_kmock *k, int id) { return rd_kafka_mock_broker_set_down(k->mc, id) ? -1 : 0; }

int pw_kmock_broker_up(pw_kmock *k, int id) { return rd_kafka_mock_broker_set_up(k->mc, id) ? -1 : 0; }

void pw_kmock_stop(pw_kmock *k) {
    if (!k) return;
    rd_kafka_mock_cluster_destroy(k->mc);
    rd_kafka_destroy(k->rk);
    free(k);
}
