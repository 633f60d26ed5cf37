/* server.h -- the running daemon (`pipewatch run`): owns everything.
 *
 * One thread (the caller's) runs the loop: poll Kafka -> decode -> engine ->
 * sinks, periodic evaluation, signals, reload. Sinks and librdkafka have
 * their own threads; nothing else touches the engine.
 */
#ifndef PW_SERVER_H
#define PW_SERVER_H

/* Run until SIGTERM/SIGINT. Returns the process exit code: 0 after an orderly
 * stop, 1 if the configuration or rules are invalid or Kafka cannot be set up. */
int pw_server_run(const char *config_path);
/* The same; metrics_out (may be NULL): at an orderly stop, write the final
 * value of every series there as JSON lines (the format of replay's
 * --metrics-out), for tests that compare runs. */
int pw_server_run_opts(const char *config_path, const char *metrics_out);

#endif
