/* main.c -- argv -> subcommand -> exit code.
 *
 * pipewatch is one binary with subcommands (like git or promtool); this file
 * only dispatches. Each subcommand lives in its own cmd_*.c.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifndef PW_VERSION
#define PW_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"demo", pw_cmd_demo, "the daemon with a private broker, redis and generated events"},
    {"run", pw_cmd_run, "run the daemon: consume Kafka, evaluate rules, notify"},
    {"check", pw_cmd_check, "validate rule files and directories"},
    {"replay", pw_cmd_replay, "run rules over a JSON-lines event file (backtest)"},
    {"test", pw_cmd_test, "run rule unit tests"},
    {"gen", pw_cmd_gen, "generate synthetic CRM and marketing events"},
    {"kafka-mock", pw_cmd_kafka_mock, "run a throwaway Kafka broker (librdkafka's mock cluster)"},
    {"snapshot", pw_cmd_snapshot, "inspect the newest state snapshot in Redis (snapshot inspect --config FILE)"},
    {"config-reference", pw_cmd_config_reference, "print every configuration key (Markdown)"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: pipewatch COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(out, "  %-17s %s\n", cmds[i].name, cmds[i].help);
    fprintf(out, "\n`pipewatch COMMAND --help` describes each. pipewatch %s\n", PW_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("pipewatch %s\n", PW_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "pipewatch: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
